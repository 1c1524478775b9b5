//! Typed tables over `command_outputs`: the rows ntc-templates' templates parse from the
//! common commands of every platform, as columns SQL can filter and join, instead of
//! JSON text. Each is a view (planned once, read at query time), so it always holds
//! exactly what `command_outputs` holds, and nothing is stored twice.
//!
//! The templates of different platforms name the same thing differently (`PROTO`,
//! `PROTOCOL`; `VERSION`, `OS`, `JUNOS_VERSION`; a list of serial numbers on IOS, one on
//! NX-OS): each column takes the first name a row has. JSON is read with
//! datafusion-functions-json (registered in every session, so users can also write
//! `parsed->>...` on `command_outputs` themselves).

/// Typed table name and its definition over `command_outputs`.
pub(crate) const VIEWS: &[(&str, &str)] = &[
    (
        "device_versions",
        "SELECT time, device_id, device, platform, command,
                json_get_str(row, 'hostname') AS hostname,
                coalesce(json_get_str(row, 'version'), json_get_str(row, 'os'),
                         json_get_str(row, 'junos_version'), json_get_str(row, 'vrp_version'),
                         json_get_str(row, 'image')) AS version,
                coalesce(json_get_str(row, 'hardware', 0), json_get_str(row, 'hardware'),
                         json_get_str(row, 'model'),
                         CASE WHEN platform = 'cisco_nxos' THEN json_get_str(row, 'platform') END) AS model,
                coalesce(json_get_str(row, 'serial', 0), json_get_str(row, 'serial'),
                         json_get_str(row, 'serial_number')) AS serial,
                json_get_str(row, 'uptime') AS uptime
         FROM (SELECT time, device_id, device, platform, command,
                      unnest(json_get_array(parsed)) AS row
               FROM command_outputs
               WHERE kind = 'collect' AND parsed IS NOT NULL
                 AND (template LIKE '%\\_show\\_version.textfsm' ESCAPE '\\'
                      OR template LIKE '%\\_display\\_version.textfsm' ESCAPE '\\'))",
    ),
    (
        "interface_status",
        "SELECT time, device_id, device, platform, command,
                json_get_str(row, 'interface') AS interface,
                coalesce(json_get_str(row, 'ip_address'), json_get_str(row, 'local')) AS ip_address,
                coalesce(json_get_str(row, 'status'), json_get_str(row, 'phy'),
                         json_get_str(row, 'admin_state')) AS status,
                coalesce(json_get_str(row, 'proto'), json_get_str(row, 'protocol'),
                         json_get_str(row, 'link_status')) AS protocol
         FROM (SELECT time, device_id, device, platform, command,
                      unnest(json_get_array(parsed)) AS row
               FROM command_outputs
               WHERE kind = 'collect' AND parsed IS NOT NULL
                 AND template IN ('cisco_ios_show_ip_interface_brief.textfsm',
                                  'cisco_nxos_show_ip_interface_brief.textfsm',
                                  'cisco_xr_show_ip_interface_brief.textfsm',
                                  'arista_eos_show_ip_interface_brief.textfsm',
                                  'huawei_vrp_display_interface_brief.textfsm',
                                  'juniper_junos_show_interfaces.textfsm'))",
    ),
];

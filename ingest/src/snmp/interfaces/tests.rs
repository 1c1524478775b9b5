use std::net::{IpAddr, Ipv4Addr};

use sotp_schemas::{DeviceId, PollSettings};

use super::*;

fn vb(o: &str, value: Value) -> VarBind {
    VarBind {
        oid: o.parse().unwrap(),
        value,
    }
}

fn device() -> Device {
    Device {
        id: DeviceId::new("sw1"),
        name: Arc::from("sw1"),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tags: vec![],
        icmp: PollSettings::default(),
        snmp: None,
        ssh: None,
    }
}

fn meta_rows() -> Vec<Vec<VarBind>> {
    let mut rows = vec![Vec::new(); 7];
    rows[0] = vec![
        vb(
            "1.3.6.1.2.1.2.2.1.2.1",
            Value::Bytes(b"GigabitEthernet0/1".to_vec()),
        ),
        vb("1.3.6.1.2.1.2.2.1.2.2", Value::Bytes(b"Vlan1".to_vec())),
        vb("1.3.6.1.2.1.2.2.1.2.3", Value::Bytes(b"Vlan1".to_vec())),
    ];
    rows[2] = vec![
        vb("1.3.6.1.2.1.2.2.1.5.1", Value::Unsigned32(u32::MAX)),
        vb("1.3.6.1.2.1.2.2.1.5.2", Value::Unsigned32(100_000_000)),
    ];
    rows[3] = vec![vb(
        "1.3.6.1.2.1.31.1.1.1.1.1",
        Value::Bytes(b"Gi0/1".to_vec()),
    )];
    rows[4] = vec![vb("1.3.6.1.2.1.31.1.1.1.15.1", Value::Unsigned32(10_000))];
    rows[5] = vec![vb(
        "1.3.6.1.2.1.31.1.1.1.18.1",
        Value::Bytes(b"uplink".to_vec()),
    )];
    rows[6] = vec![vb("1.3.6.1.2.1.31.1.1.1.6.1", Value::Counter64(5))];
    rows
}

#[test]
fn metadata_prefers_ifname_and_ifhighspeed_and_keeps_duplicates_apart() {
    let i = Interfaces::from_walk(&meta_rows());
    let m1 = &i.by_index[&1];
    assert_eq!(&*m1.instance, "Gi0/1");
    assert_eq!(m1.alias.as_deref(), Some("uplink"));
    assert_eq!(m1.speed_bps, Some(10_000_000_000));
    assert!(m1.hc);
    assert_eq!(&*i.by_index[&2].instance, "Vlan1");
    assert_eq!(i.by_index[&2].speed_bps, Some(100_000_000));
    assert_eq!(&*i.by_index[&3].instance, "Vlan1#3");
    assert_eq!(i.by_index[&3].speed_bps, None);
}

#[test]
fn counters_keep_exact_u64_width_and_fall_back_to_32_bit() {
    let i = Interfaces::from_walk(&meta_rows());
    let cols = i.counter_columns(false);
    let mut rows = vec![Vec::new(); cols.len()];
    for (k, (metric, col)) in cols.iter().enumerate() {
        match (metric, col.to_string().as_str()) {
            (Some("if.in_octets"), "1.3.6.1.2.1.31.1.1.1.6") => {
                rows[k] = vec![vb(
                    "1.3.6.1.2.1.31.1.1.1.6.1",
                    Value::Counter64(u64::MAX - 1),
                )]
            }
            (Some("if.in_octets"), "1.3.6.1.2.1.2.2.1.10") => {
                rows[k] = vec![
                    vb("1.3.6.1.2.1.2.2.1.10.1", Value::Counter32(7)),
                    vb("1.3.6.1.2.1.2.2.1.10.2", Value::Counter32(u32::MAX)),
                    vb("1.3.6.1.2.1.2.2.1.10.3", Value::Bytes(b"junk".to_vec())),
                ]
            }
            (None, "1.3.6.1.2.1.2.2.1.8") => {
                rows[k] = vec![vb("1.3.6.1.2.1.2.2.1.8.1", Value::Integer(1))]
            }
            _ => {}
        }
    }
    let (samples, problems) = i.samples(&device(), UtcNanos(1), &Arc::from("snmp"), &cols, &rows);
    let find = |metric: &str, inst: &str| {
        samples
            .iter()
            .find(|s| s.metric.as_str() == metric && s.instance.as_deref() == Some(inst))
            .cloned()
    };
    let gi = find("if.in_octets", "Gi0/1").unwrap();
    assert_eq!(gi.counter, Some(u64::MAX - 1));
    assert_eq!(gi.labels["counter_width"], "64");
    assert_eq!(gi.labels["alias"], "uplink");
    let vl = find("if.in_octets", "Vlan1").unwrap();
    assert_eq!(vl.counter, Some(u64::from(u32::MAX)));
    assert_eq!(vl.labels["counter_width"], "32");
    assert!(find("if.in_octets", "Vlan1#3").is_none());
    assert_eq!(find("if.oper_status", "Gi0/1").unwrap().value, 1.0);
    assert_eq!(find("if.speed_bps", "Gi0/1").unwrap().value, 1e10);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("OCTET STRING"), "{problems:?}");
}

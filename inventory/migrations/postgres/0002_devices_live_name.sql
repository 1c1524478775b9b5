-- The default device list order (name, then id) over live devices, read in index order
-- so a page of 50 stops after 50 rows instead of sorting every device. Keep in step
-- with ../sqlite/0002_devices_live_name.sql.
CREATE INDEX devices_live_name ON devices (name, id) WHERE deleted_at IS NULL;

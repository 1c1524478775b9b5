-- Failed logins per (account, client address): the attempts of one address for one
-- account are slowed down after a few failures, without locking the account for
-- everyone else (its owner logs in from another address). `account` is the SHA-256 of
-- the lower-cased user name, so unknown and known names are treated alike and a
-- password typed into the user name field is not stored. Keep in step with the other
-- backend's 0003_login_failures.sql. users.failed_logins and users.locked_until are no
-- longer used.
CREATE TABLE login_failures (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    failures BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    PRIMARY KEY (account, address)
);

//! The schema, as the steps that build it (`PRAGMA user_version` counts
//! the steps applied).
//!
//! - 1: `hosts`, one row per machine keyed by MAC (`aa:bb:cc:dd:ee:ff`),
//!   which other tables reference; `leases`, the `full`-mode DHCP bindings,
//!   one per MAC and unique per address.
//! - 2: `tasks`, capture and restore tasks. A partial unique index keeps at
//!   most one active (`pending` or `running`) task per host. Only the
//!   BLAKE3 hash of a task's one-time token is stored (`token_hash`).
//! - 3: what a task does when it ends (`after`), the Windows target whose
//!   drivers a restore injects (`inject_drivers`), the manifest a restore
//!   resolved to when claimed (`manifest`), and each host's last reported
//!   inventory (`hosts.inventory`, JSON).
//! - 4: multicast sessions (`sessions`): the image and manifest, the start
//!   policy, the group once running and the sender's totals; each member
//!   is a restore task with `tasks.session_id`, when its client joined
//!   (`session_joined`) and the receiver's last status (`session_status`,
//!   JSON). Hosts gain a group (`hosts.group_name`, a room).
//!
//! - 5: the admin side. `users` (a role, an argon2id password hash once
//!   set, and the BLAKE3 hash of a one-time password-setting link),
//!   `api_tokens` (only each token's BLAKE3 hash; a role, or the `sync`
//!   scope of site sync), `web_sessions` (a browser's cookie, stored
//!   hashed, and its CSRF token), and `audit`, one row per state-changing
//!   action or refused request.
//! - 6: `schedules` (when, as JSON; the command, as its argument list;
//!   the grace period; paused; `done` once a one-shot has fired; the time
//!   up to which due runs were handled) and `schedule_runs`, the history:
//!   each due time, whether it ran or was missed, and the task or session
//!   it made.
//!
//! Later versions add steps; a step never edits an earlier one, so a
//! database written by any version opens in a newer one.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: hosts and leases.
    "CREATE TABLE hosts (
        mac TEXT PRIMARY KEY NOT NULL,
        name TEXT UNIQUE,
        arch TEXT,
        client_uuid TEXT,
        ip TEXT,
        first_seen INTEGER NOT NULL,
        last_boot INTEGER
    );
    CREATE TABLE leases (
        mac TEXT PRIMARY KEY NOT NULL,
        ip TEXT NOT NULL UNIQUE,
        expires INTEGER NOT NULL
    );",
    // 2: capture and restore tasks.
    "CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('capture', 'restore')),
        host TEXT NOT NULL REFERENCES hosts(mac),
        image TEXT NOT NULL,
        disk_rule TEXT,
        grow_last_partition INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
        error TEXT,
        progress TEXT,
        report TEXT,
        token_hash TEXT,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX tasks_one_active_per_host
        ON tasks(host) WHERE state IN ('pending', 'running');",
    // 3: the end action, driver injection, the claimed manifest, inventories.
    "ALTER TABLE tasks ADD COLUMN after TEXT NOT NULL DEFAULT 'reboot'
        CHECK (after IN ('reboot', 'poweroff'));
    ALTER TABLE tasks ADD COLUMN inject_drivers TEXT;
    ALTER TABLE tasks ADD COLUMN manifest TEXT;
    ALTER TABLE hosts ADD COLUMN inventory TEXT;
    ALTER TABLE hosts ADD COLUMN inventory_at INTEGER;",
    // 4: multicast sessions and host groups.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        wire_id TEXT NOT NULL UNIQUE,
        image TEXT NOT NULL,
        manifest TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('waiting', 'running', 'done', 'failed', 'cancelled')),
        min_receivers INTEGER,
        max_wait_secs INTEGER,
        start_at INTEGER,
        start_requested INTEGER NOT NULL DEFAULT 0,
        rate_cap INTEGER NOT NULL,
        wake INTEGER NOT NULL DEFAULT 0,
        woken INTEGER,
        group_addr TEXT,
        port INTEGER,
        started INTEGER,
        start_reason TEXT,
        sent_bytes INTEGER NOT NULL DEFAULT 0,
        cycles INTEGER NOT NULL DEFAULT 0,
        repair_symbols INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    ALTER TABLE tasks ADD COLUMN session_id INTEGER REFERENCES sessions(id);
    ALTER TABLE tasks ADD COLUMN session_joined INTEGER;
    ALTER TABLE tasks ADD COLUMN session_status TEXT;
    CREATE INDEX tasks_by_session ON tasks(session_id) WHERE session_id IS NOT NULL;
    ALTER TABLE hosts ADD COLUMN group_name TEXT;",
    // 5: users, API tokens, browser sessions, the audit log.
    "CREATE TABLE users (
        name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        password TEXT,
        setup_hash TEXT UNIQUE,
        setup_expires INTEGER,
        created INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'sync')),
        hash TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL,
        expires INTEGER,
        revoked INTEGER,
        last_used INTEGER
    );
    CREATE TABLE web_sessions (
        hash TEXT PRIMARY KEY NOT NULL,
        user_name TEXT NOT NULL COLLATE NOCASE,
        csrf TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        address TEXT,
        action TEXT NOT NULL,
        object TEXT,
        args TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX audit_by_time ON audit(at);",
    // 6: schedules and their runs.
    "CREATE TABLE schedules (
        name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        spec TEXT NOT NULL,
        argv TEXT NOT NULL,
        grace_secs INTEGER NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL,
        checked_until INTEGER NOT NULL
    );
    CREATE TABLE schedule_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        schedule TEXT NOT NULL COLLATE NOCASE,
        due INTEGER NOT NULL,
        at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        task_id INTEGER,
        session_id INTEGER
    );
    CREATE INDEX schedule_runs_by_schedule ON schedule_runs(schedule, due);",
    // 7: post-deploy scripts, and a restore's hostname and script.
    "CREATE TABLE scripts (
        name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        body TEXT NOT NULL,
        blake3 TEXT NOT NULL,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    ALTER TABLE tasks ADD COLUMN hostname_pattern TEXT;
    ALTER TABLE tasks ADD COLUMN hostname TEXT;
    ALTER TABLE tasks ADD COLUMN post_script TEXT;",
    // 8: upstream sites this one pulls from, and each pull's outcome.
    "CREATE TABLE sites (
        name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        url TEXT NOT NULL,
        token TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT,
        read_through INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL
    );
    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        site TEXT NOT NULL COLLATE NOCASE,
        started INTEGER NOT NULL,
        ended INTEGER,
        state TEXT NOT NULL,
        published INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        chunks INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        report TEXT
    );
    CREATE INDEX sync_runs_by_site ON sync_runs(site, started);",
    // 9: a host's own UEFI boot chain (`ipxe` or `signed`); NULL follows
    // the configuration's boot.uefi.
    "ALTER TABLE hosts ADD COLUMN uefi_boot TEXT;",
];

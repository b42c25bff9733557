//! SQL helpers shared by the SQL-backed plugins (queuefs, sqlfs): a small SQLite connection pool
//! run off the async threads, and the MySQL/MariaDB/TiDB config, pool and error mapping.

pub(crate) mod mysql;
pub(crate) mod sqlite;

//! The permission table: every route of the API with the role each of its methods needs. A test
//! (`every_registered_route_is_in_the_table`) fails when a route is added without a line here.

use axum::http::Method;

use super::Role;

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the index, readiness and version (probes and clients finding the API).
    Public,
    /// A role of at least this.
    Role(Role),
}

impl Need {
    /// The role needed; `None` for a public call.
    pub fn role(self) -> Option<Role> {
        match self {
            Need::Public => None,
            Need::Role(r) => Some(r),
        }
    }
}

const PUBLIC: Need = Need::Public;
const READ: Need = Need::Role(Role::Read);
const WRITE: Need = Need::Role(Role::Write);
const ADMIN: Need = Need::Role(Role::Admin);

/// Which methods a line of the table covers.
#[derive(Debug, Clone, Copy)]
pub enum Methods {
    /// Any method (the route itself answers the ones it does not serve).
    Any,
    /// GET (and HEAD, which the router serves with the GET handler).
    Get,
    /// PUT.
    Put,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

impl Methods {
    fn covers(self, m: &Method) -> bool {
        match self {
            Methods::Any => true,
            Methods::Get => m == Method::GET || m == Method::HEAD,
            Methods::Put => m == Method::PUT,
            Methods::Post => m == Method::POST,
            Methods::Delete => m == Method::DELETE,
        }
    }
}

/// The table: route template (as registered in `app.rs`; `{x}` is one segment), methods, need.
/// `HANDLE_OPEN` stands for `POST /api/v1/handles/open`, which needs `write` unless its `flags`
/// open read-only.
pub const TABLE: &[(&str, Methods, Need)] = &[
    ("/", Methods::Any, PUBLIC),
    ("/api/v1/ready", Methods::Get, PUBLIC),
    ("/api/v1/version", Methods::Get, PUBLIC),
    ("/api/v1/health", Methods::Any, READ),
    ("/api/v1/capabilities", Methods::Get, READ),
    ("/api/v1/files", Methods::Get, READ),
    ("/api/v1/files", Methods::Put, WRITE),
    ("/api/v1/files", Methods::Post, WRITE),
    ("/api/v1/files", Methods::Delete, WRITE),
    ("/api/v1/write", Methods::Post, WRITE),
    ("/api/v1/directories", Methods::Get, READ),
    ("/api/v1/directories", Methods::Post, WRITE),
    ("/api/v1/directories", Methods::Delete, WRITE),
    ("/api/v1/list", Methods::Get, READ),
    ("/api/v1/mkdir", Methods::Post, WRITE),
    ("/api/v1/stat", Methods::Get, READ),
    ("/api/v1/rename", Methods::Post, WRITE),
    ("/api/v1/chmod", Methods::Post, WRITE),
    ("/api/v1/truncate", Methods::Post, WRITE),
    ("/api/v1/touch", Methods::Post, WRITE),
    ("/api/v1/symlink", Methods::Post, WRITE),
    ("/api/v1/readlink", Methods::Get, READ),
    ("/api/v1/config", Methods::Get, ADMIN),
    ("/api/v1/config/reload", Methods::Post, ADMIN),
    ("/api/v1/mounts", Methods::Get, READ),
    ("/api/v1/mounts/config", Methods::Post, ADMIN),
    ("/api/v1/mount", Methods::Post, ADMIN),
    ("/api/v1/unmount", Methods::Post, ADMIN),
    ("/api/v1/plugins", Methods::Get, READ),
    ("/api/v1/plugins/load", Methods::Post, ADMIN),
    ("/api/v1/plugins/unload", Methods::Post, ADMIN),
    ("/api/v1/grep", Methods::Post, READ),
    ("/api/v1/digest", Methods::Post, READ),
    ("/api/v1/handles", Methods::Any, READ),
    ("/api/v1/handles/", Methods::Any, READ),
    (HANDLE_OPEN, Methods::Post, WRITE),
    ("/api/v1/handles/{id}", Methods::Get, READ),
    ("/api/v1/handles/{id}", Methods::Delete, READ),
    ("/api/v1/handles/{id}/read", Methods::Get, READ),
    ("/api/v1/handles/{id}/write", Methods::Put, WRITE),
    ("/api/v1/handles/{id}/seek", Methods::Post, READ),
    ("/api/v1/handles/{id}/sync", Methods::Post, WRITE),
    ("/api/v1/handles/{id}/stat", Methods::Get, READ),
    ("/api/v1/handles/{id}/stream", Methods::Get, READ),
    ("/api/v1/handles/{id}/renew", Methods::Post, READ),
    ("/api/v1/handles/{id}/truncate", Methods::Post, WRITE),
    ("/api/v1/handles/{id}/{op}", Methods::Any, READ),
];

/// The route of handle opens.
pub const HANDLE_OPEN: &str = "/api/v1/handles/open";

/// What `method` on `path` (with `query`) needs; `None` when the table has no line for it (the
/// router then answers 404 or 405, and the gate asks for `read`).
pub fn need(method: &Method, path: &str, query: Option<&str>) -> Option<Need> {
    // A literal line wins over a template line (`/handles/open` over `/handles/{id}`), as in the
    // router.
    let mut found = None;
    for &(template, methods, need) in TABLE {
        if !methods.covers(method) {
            continue;
        }
        match matches(template, path) {
            Some(true) => {
                found = Some((template, need));
                break;
            }
            Some(false) if found.is_none() => found = Some((template, need)),
            _ => {}
        }
    }
    let (template, need) = found?;
    if template == HANDLE_OPEN && opens_read_only(query) {
        return Some(READ);
    }
    Some(need)
}

/// Whether `path` fits `template`: `Some(true)` literally, `Some(false)` through a `{x}`
/// segment, `None` not at all.
fn matches(template: &str, path: &str) -> Option<bool> {
    if template == path {
        return Some(true);
    }
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(false),
            (Some(ts), Some(ps)) => {
                let wild = ts.starts_with('{') && ts.ends_with('}');
                if !(ts == ps || (wild && !ps.is_empty())) {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Whether the open's `flags` (read as the handler reads them: the first, decoded) open
/// read-only: access mode 0 and nothing that creates, appends or truncates. A value that is not
/// a number counts as a write (the open then fails anyway).
fn opens_read_only(query: Option<&str>) -> bool {
    let params = crate::extract::Params::parse(query.unwrap_or(""));
    params.get("flags").is_none_or(|f| {
        f.parse::<i64>()
            .is_ok_and(|f| f & (1 | 2 | 8 | 16 | 32 | 64) == 0)
    })
}

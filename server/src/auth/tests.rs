use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

fn two() -> Auth {
    Auth::new(
        vec![
            (
                TokenDigest::of(b"reader-token-0123456789"),
                Principal {
                    name: "r".into(),
                    role: Role::Read,
                },
            ),
            (
                TokenDigest::of(b"writer-token-0123456789"),
                Principal {
                    name: "w".into(),
                    role: Role::Write,
                },
            ),
        ],
        true,
    )
}

fn status(r: Result<Option<Arc<Principal>>, Box<Response>>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(resp) => resp.status().as_u16(),
    }
}

#[test]
fn roles_nest_and_refusals_say_why() {
    let a = two();
    let local = ip("127.0.0.1");
    let files = "/api/v1/files";
    let cases = [
        (Method::GET, files, HeaderMap::new(), 401),
        (Method::GET, files, bearer("wrong-token-0123456789"), 401),
        (Method::GET, files, bearer("reader-token-0123456789"), 200),
        (Method::PUT, files, bearer("reader-token-0123456789"), 403),
        (Method::PUT, files, bearer("writer-token-0123456789"), 200),
        (
            Method::POST,
            "/api/v1/mount",
            bearer("writer-token-0123456789"),
            403,
        ),
        (Method::GET, "/api/v1/ready", HeaderMap::new(), 200),
        (Method::GET, "/api/v1/nothing-here", HeaderMap::new(), 401),
    ];
    for (m, path, headers, want) in cases {
        assert_eq!(
            status(a.check(&m, path, None, &headers, local)),
            want,
            "{m} {path}"
        );
    }
    let Err(resp) = a.check(&Method::GET, files, None, &HeaderMap::new(), local) else {
        panic!("no token passed");
    };
    assert_eq!(
        resp.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"pfs\""
    );
    let Err(resp) = a.check(
        &Method::GET,
        files,
        None,
        &bearer("wrong-token-0123456789"),
        local,
    ) else {
        panic!("a wrong token passed");
    };
    assert!(
        resp.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // Lower-case scheme, as RFC 6750 allows.
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("bearer writer-token-0123456789"),
    );
    let p = a
        .check(&Method::PUT, files, None, &h, local)
        .unwrap()
        .unwrap();
    assert_eq!(p.name, "w");
}

#[test]
fn protected_mode_serves_only_this_machine() {
    let a = Auth::new(Vec::new(), true);
    for peer in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
        assert_eq!(
            status(a.check(
                &Method::POST,
                "/api/v1/mount",
                None,
                &HeaderMap::new(),
                ip(peer)
            )),
            200,
            "{peer}"
        );
    }
    for peer in ["192.0.2.7", "10.0.0.1", "::ffff:10.0.0.1", "fd00::2"] {
        let r = a.check(
            &Method::GET,
            "/api/v1/files",
            None,
            &HeaderMap::new(),
            ip(peer),
        );
        let Err(resp) = r else {
            panic!("{peer} passed protected mode");
        };
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // The probes stay open.
        assert_eq!(
            status(a.check(
                &Method::GET,
                "/api/v1/ready",
                None,
                &HeaderMap::new(),
                ip(peer)
            )),
            200
        );
    }
    let off = Auth::new(Vec::new(), false);
    assert_eq!(
        status(off.check(
            &Method::PUT,
            "/api/v1/files",
            None,
            &HeaderMap::new(),
            ip("10.0.0.1")
        )),
        200
    );
    let broken = Auth::refusing("token_file gone".into());
    assert_eq!(
        status(broken.check(
            &Method::GET,
            "/api/v1/files",
            None,
            &HeaderMap::new(),
            ip("127.0.0.1")
        )),
        503
    );
}

#[test]
fn the_table_decides_by_template_method_and_open_flags() {
    use routes::need;
    let n = |m: Method, p: &str, q: Option<&str>| need(&m, p, q).and_then(Need::role);
    assert_eq!(n(Method::HEAD, "/api/v1/files", None), Some(Role::Read));
    assert_eq!(
        n(Method::DELETE, "/api/v1/directories", None),
        Some(Role::Write)
    );
    assert_eq!(
        n(Method::GET, "/api/v1/handles/7/read", None),
        Some(Role::Read)
    );
    assert_eq!(
        n(Method::PUT, "/api/v1/handles/7/write", None),
        Some(Role::Write)
    );
    assert_eq!(
        n(Method::POST, "/api/v1/handles/7/truncate", None),
        Some(Role::Write)
    );
    assert_eq!(
        n(Method::POST, "/api/v1/config/reload", None),
        Some(Role::Admin)
    );
    // An empty segment is not an id.
    assert_eq!(need(&Method::GET, "/api/v1/handles//read", None), None);
    for (q, want) in [
        (None, Role::Read),
        (Some("path=/a&flags=0"), Role::Read),
        (Some("path=/a&flags=1"), Role::Write),
        (Some("path=/a&flags=16"), Role::Write),
        (Some("path=/a&flags=64"), Role::Write),
        (Some("path=/a&fl%61gs=2"), Role::Write),
        (Some("flags=x"), Role::Write),
        (Some("flags=-1"), Role::Write),
        // The handler reads the first value; so does the table.
        (Some("flags=0&flags=1"), Role::Read),
    ] {
        assert_eq!(
            n(Method::POST, "/api/v1/handles/open", q),
            Some(want),
            "{q:?}"
        );
    }
}

#[test]
fn token_digests_round_trip_through_hex() {
    let d = TokenDigest::of(b"abc");
    assert_eq!(
        d.hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(TokenDigest::from_hex(&d.hex()), Some(d));
    assert_eq!(TokenDigest::from_hex(&d.hex().to_uppercase()), Some(d));
    assert_eq!(TokenDigest::from_hex("zz"), None);
    assert!(!format!("{d:?}").contains("ba78"));
}

//! The HTTP API against a real server: signup, login, user lookup, error bodies, throttles,
//! rate limits and CORS.

use crate::harness;

use std::time::{Duration, Instant};

use harness::{PASSWORD, Reply, TestServer, http_client, loopback, random_object_id, send, unique_name};
use reqwest::{
    StatusCode,
    header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, ORIGIN},
};
use serde_json::{Value, json};
use shared::{
    api::{self, Credentials},
    errors, validate,
};

fn is_object_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("JSON object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_are_200_and_unknown_routes_are_404_json() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let ok = json!({"status": "ok", "store": "ok", "adapter": "local"});
    for path in [api::HEALTH_PATH, api::READY_PATH] {
        let r = s.get(path).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &ok), "{path}");
    }
    let r = s.get("/api/v1/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), errors::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_returns_201_and_the_user_can_be_looked_up() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let names = [
        unique_name("ann"),
        "李小龙".to_owned(),
        format!("{}{:08x}", "ü".repeat(24), harness::random_u64() as u32),
    ];
    for name in &names {
        let r = s.signup(name, PASSWORD).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {r:?}");
        assert_eq!(keys(&r.body), ["id", "username"], "no other field (no password hash) in {r:?}");
        assert_eq!(r.body["username"], json!(name));
        let id = r.body["id"].as_str().unwrap();
        assert!(is_object_id(id), "id {id} is not an ObjectId");
        let found = s.get(&api::user_path(id)).await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(found.body, json!({ "username": name }), "exactly {{username}}");
    }
    // Password bounds are bytes: exactly 8 and exactly 72 are fine.
    for pw in ["12345678".to_owned(), "p".repeat(72), "é".repeat(36)] {
        let r = s.signup(&unique_name("pw"), &pw).await;
        assert_eq!(r.status, StatusCode::CREATED, "password of {} bytes: {r:?}", pw.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_rejects_invalid_usernames_and_passwords_with_the_rule() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let long_name = "u".repeat(33);
    let bad_names = ["ab", long_name.as_str(), " ann", "ann ", "a\u{7}nn", "new\nline"];
    for name in bad_names {
        let r = s.signup(name, PASSWORD).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}: {r:?}");
        let rule = validate::username(name).unwrap_err();
        assert!(r.error().contains(&rule), "{name:?}: error {:?} should name the rule {rule:?}", r.error());
    }
    // 37 two-byte characters are 74 bytes: too long although only 37 characters.
    let (long_pw, multibyte_pw) = ("p".repeat(73), "é".repeat(37));
    for pw in ["short", long_pw.as_str(), multibyte_pw.as_str(), "new\nline pass", "tab\tin password"] {
        let r = s.signup(&unique_name("bob"), pw).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{pw:?}: {r:?}");
        let rule = validate::password(pw).unwrap_err();
        assert!(r.error().contains(&rule), "{pw:?}: error {:?} should name the rule {rule:?}", r.error());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_usernames_are_one_account_and_mixed_scripts_are_refused() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let suffix = &unique_name("")[1..];
    // Full-width letters are stored as the plain ones (NFKC).
    let r = s.signup(&format!("\u{ff21}lice{suffix}"), PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let alice = format!("Alice{suffix}");
    assert_eq!(r.body["username"], json!(alice));
    for look_alike in [format!("alice{suffix}"), format!("ALICE{suffix}"), format!("\u{ff41}lice{suffix}")] {
        let r = s.signup(&look_alike, PASSWORD).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::BAD_REQUEST, errors::USERNAME_TAKEN),
            "{look_alike:?}"
        );
    }
    let cyrillic = format!("\u{410}lice{suffix}");
    let r = s.signup(&cyrillic, PASSWORD).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, validate::username(&cyrillic).unwrap_err().as_str())
    );
    // Both normal forms of José are one name.
    assert_eq!(s.signup(&format!("Jose\u{301}{suffix}"), PASSWORD).await.status, StatusCode::CREATED);
    let r = s.signup(&format!("José{suffix}"), PASSWORD).await;
    assert_eq!((r.status, r.error()), (StatusCode::BAD_REQUEST, errors::USERNAME_TAKEN));
    // A look-alike spelling logs in to the one account.
    for spelling in [alice.clone(), format!("alice{suffix}"), format!("\u{ff41}lice{suffix}")] {
        assert_eq!(s.login(&spelling, PASSWORD).await.status, StatusCode::OK, "{spelling:?}");
    }
    // Names in scripts with combining marks are fine.
    // (With digits: Latin letters after Devanagari would be a mix of scripts.)
    let digits = harness::random_u64() % 1_000_000;
    for name in ["हिन्दी", "தமிழ்", "ห้อง"] {
        let r = s.signup(&format!("{name}{digits}"), PASSWORD).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_400_json_errors() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let bodies = [
        "{",
        "",
        "null",
        "[]",
        "\"ann\"",
        r#"{"username": 5, "password": "correct horse"}"#,
        r#"{"username": "ann", "password": true}"#,
        r#"{"username": "ann"}"#,
        r#"{"password": "correct horse"}"#,
        "{}",
    ];
    for path in [api::SIGNUP_PATH, api::LOGIN_PATH] {
        for body in bodies {
            let r =
                send(s.http().post(s.url(path)).header(CONTENT_TYPE, "application/json").body(body)).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body:?}: {r:?}");
            assert!(r.error().starts_with(errors::INVALID_BODY), "{path} {body:?}: {r:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_and_login_take_only_json_bodies_so_no_html_form_can_post_them() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let user = s.user("formed").await;
    let body = json!({"username": user.username, "password": PASSWORD}).to_string();
    let fresh = json!({"username": unique_name("form"), "password": PASSWORD}).to_string();
    for (path, body) in [(api::LOGIN_PATH, &body), (api::SIGNUP_PATH, &fresh)] {
        // What an HTML form (or no header at all) sends: refused before anything happens.
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let mut request = s.http().post(s.url(path)).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            let r = send(request).await;
            assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path} as {content_type:?}: {r:?}");
            assert_eq!(r.error(), errors::JSON_REQUIRED);
        }
    }
    let login = send(
        s.http()
            .post(s.url(api::LOGIN_PATH))
            .header(CONTENT_TYPE, "Application/JSON; charset=utf-8")
            .body(body),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "a JSON content type with parameters is JSON: {login:?}");
    let signup = s.post_json(api::SIGNUP_PATH, &serde_json::from_str(&fresh).unwrap()).await;
    assert_eq!(signup.status, StatusCode::CREATED, "the refused form signup created no account: {signup:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_json_errors() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let big = Credentials { username: unique_name("big"), password: "p".repeat(17 * 1024) };
    for path in [api::SIGNUP_PATH, api::LOGIN_PATH] {
        let r = send(s.http().post(s.url(path)).json(&big)).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {r:?}");
        assert!(!r.error().is_empty());
    }

    let small = TestServer::start(&["--no-rate-limits", "--max-body-bytes", "512"]).await;
    let r = small.post_json(api::SIGNUP_PATH, &json!({"username": "x", "password": "p".repeat(600)})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{r:?}");
    assert!(!r.error().is_empty());
    // Under the limit the same route answers normally.
    let r = small.signup(&unique_name("fits"), PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_usernames_are_refused_even_when_signups_race() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let name = unique_name("dup");
    assert_eq!(s.signup(&name, PASSWORD).await.status, StatusCode::CREATED);
    let again = s.signup(&name, "another password").await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error(), errors::USERNAME_TAKEN);

    let racing = unique_name("race");
    let attempts = (0..8).map(|i| {
        let (http, url, racing) = (s.http().clone(), s.url(api::SIGNUP_PATH), racing.clone());
        tokio::spawn(async move {
            send(http.post(url).json(&json!({"username": racing, "password": format!("password {i}")}))).await
        })
    });
    let mut created = 0;
    for a in attempts.collect::<Vec<_>>() {
        let r = a.await.unwrap();
        if r.status == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
            assert_eq!(r.error(), errors::USERNAME_TAKEN);
        }
    }
    assert_eq!(created, 1, "exactly one racing signup wins");
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_an_hs256_jwt_for_the_user_valid_24_hours() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let name = unique_name("jwt");
    let id = s.signup(&name, PASSWORD).await.body["id"].as_str().unwrap().to_owned();
    let r = s.login(&name, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(keys(&r.body), ["token"]);
    let token = r.body["token"].as_str().unwrap();
    let decoded = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).expect("a JWT");
    assert_eq!(decoded.header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(decoded.claims.sub, id);
    let ttl = decoded.claims.exp - chrono::Utc::now().timestamp();
    assert!((24 * 3600 - 120..=24 * 3600 + 5).contains(&ttl), "exp is {ttl} s away, not 24 h");

    for (user, pw) in [(name.as_str(), "wrong password"), ("nobody_here", PASSWORD)] {
        let r = s.login(user, pw).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}: {r:?}");
        assert_eq!(r.error(), errors::INVALID_CREDENTIALS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_ids_are_404_user_not_found() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    for id in [
        random_object_id(),
        "000000000000000000000000".into(),
        "abc".into(),
        "not-an-id".into(),
        "%20".into(),
    ] {
        let r = s.get(&api::user_path(&id)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {r:?}");
        assert_eq!(r.error(), errors::USER_NOT_FOUND, "{id}");
    }
}

/// A login of `user` with `pw` from `client`, optionally with extra headers.
async fn login_from(
    s: &TestServer,
    client: &reqwest::Client,
    user: &str,
    pw: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = client.post(s.url(api::LOGIN_PATH)).json(&json!({"username": user, "password": pw}));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_password_locks_out_the_guesser_and_only_slows_down_its_owner() {
    let s = TestServer::start(&["--max-failed-logins", "3"]).await;
    let victim = unique_name("victim");
    let other = unique_name("other");
    for name in [&victim, &other] {
        assert_eq!(s.signup(name, PASSWORD).await.status, StatusCode::CREATED);
    }
    let attacker = http_client(Some(loopback(2)));
    for _ in 0..3 {
        let r = login_from(&s, &attacker, &victim, "wrong password", &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    }
    let blocked = login_from(&s, &attacker, &victim, PASSWORD, &[]).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "even the right password: {blocked:?}");
    assert_eq!(blocked.error(), errors::TOO_MANY_ATTEMPTS);
    assert!((1..=900).contains(&blocked.retry_after()), "{blocked:?}");
    // Another name from the guesser's address is not affected.
    assert_eq!(login_from(&s, &attacker, &other, PASSWORD, &[]).await.status, StatusCode::OK);
    // The owner, elsewhere, gets in: slowed down, not locked out.
    let started = Instant::now();
    let owner = login_from(&s, &http_client(Some(loopback(3))), &victim, PASSWORD, &[]).await;
    assert_eq!(owner.status, StatusCode::OK, "{owner:?}");
    assert!(started.elapsed() >= Duration::from_millis(250), "slowed down: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_race_past_the_login_throttle() {
    let s = TestServer::start(&["--max-failed-logins", "3", "--http-requests-per-minute", "1000"]).await;
    let victim = unique_name("raced");
    assert_eq!(s.signup(&victim, PASSWORD).await.status, StatusCode::CREATED);
    // 30 wrong guesses at once from one address: only 3 may be checked.
    let attacker = http_client(Some(loopback(2)));
    let passwords: Vec<String> = (0..30).map(|i| format!("guess number {i}")).collect();
    let guesses = passwords.iter().map(|pw| login_from(&s, &attacker, &victim, pw, &[]));
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.status == StatusCode::UNAUTHORIZED).count();
    let throttled = answers.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, throttled), (3, 27), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_guessing_many_names_is_locked_out_at_ten_times_the_limit() {
    let s = TestServer::start(&["--max-failed-logins", "2"]).await;
    let name = unique_name("legit");
    assert_eq!(s.signup(&name, PASSWORD).await.status, StatusCode::CREATED);
    let attacker = http_client(Some(loopback(2)));
    // Twenty names, one failure each: no name reaches the limit, the address does.
    for _ in 0..20 {
        let r = login_from(&s, &attacker, &unique_name("guess"), PASSWORD, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    }
    let blocked = login_from(&s, &attacker, &name, PASSWORD, &[]).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "{blocked:?}");
    assert_eq!(blocked.error(), errors::TOO_MANY_ATTEMPTS);
    assert!((1..=900).contains(&blocked.retry_after()), "{blocked:?}");
    let elsewhere = http_client(Some(loopback(3)));
    assert_eq!(login_from(&s, &elsewhere, &name, PASSWORD, &[]).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_every_limit_counts_the_client_it_names() {
    let s = TestServer::start(&[
        "--max-failed-logins",
        "2",
        "--http-requests-per-minute",
        "5",
        "--trusted-proxy",
        "127.0.0.1",
    ])
    .await;
    let name = unique_name("proxied");
    assert_eq!(s.signup(&name, PASSWORD).await.status, StatusCode::CREATED);
    let proxy = http_client(Some(loopback(1)));
    let (one, two) = ([("x-forwarded-for", "198.51.100.1")], [("forwarded", "for=198.51.100.2;proto=https")]);
    for _ in 0..2 {
        let r = login_from(&s, &proxy, &name, "wrong password", &one).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    }
    let locked = login_from(&s, &proxy, &name, PASSWORD, &one).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{locked:?}");
    // Another person behind the same proxy is a client of their own.
    assert_eq!(login_from(&s, &proxy, &name, PASSWORD, &two).await.status, StatusCode::OK);
    // The HTTP rate limit too: the first client has used 3 of its 5 requests, the second 1.
    for _ in 0..2 {
        assert_eq!(login_from(&s, &proxy, &name, "wrong", &one).await.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let limited = login_from(&s, &proxy, &name, PASSWORD, &one).await;
    assert_eq!((limited.status, limited.error()), (StatusCode::TOO_MANY_REQUESTS, errors::TOO_MANY_REQUESTS));
    assert_eq!(login_from(&s, &proxy, &name, PASSWORD, &two).await.status, StatusCode::OK);

    // Headers from a peer that is not a trusted proxy are ignored: a new address per request
    // does not escape the limit.
    let spoofer = http_client(Some(loopback(9)));
    for i in 0..2 {
        let header = [("x-forwarded-for", &*format!("203.0.113.{i}"))];
        assert_eq!(
            login_from(&s, &spoofer, &name, "wrong password", &header).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let header = [("x-forwarded-for", "203.0.113.99")];
    assert_eq!(
        login_from(&s, &spoofer, &name, PASSWORD, &header).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_are_rate_limited_per_address() {
    let s = TestServer::start(&["--http-requests-per-minute", "5"]).await;
    let path = api::user_path(&random_object_id());
    let busy = http_client(Some(loopback(2)));
    for i in 0..5 {
        let r = send(busy.get(s.url(&path))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "request {i}: {r:?}");
    }
    let limited = send(busy.get(s.url(&path))).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    assert_eq!(limited.error(), errors::TOO_MANY_REQUESTS);
    assert!((1..=60).contains(&limited.retry_after()), "{limited:?}");
    let quiet = http_client(Some(loopback(3)));
    assert_eq!(send(quiet.get(s.url(&path))).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rate_limits_turns_off_http_and_login_limits() {
    let s = TestServer::start(&[
        "--no-rate-limits",
        "--max-failed-logins",
        "2",
        "--http-requests-per-minute",
        "3",
    ])
    .await;
    let name = unique_name("free");
    assert_eq!(s.signup(&name, PASSWORD).await.status, StatusCode::CREATED);
    for _ in 0..5 {
        assert_eq!(s.login(&name, "wrong password").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(s.login(&name, PASSWORD).await.status, StatusCode::OK);
    for _ in 0..10 {
        assert_eq!(s.get(&api::user_path(&random_object_id())).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_only_for_listed_origins() {
    let app = "http://app.example";
    let evil = "http://evil.example";
    let preflight = |s: &TestServer, origin: &str| {
        send(
            s.http()
                .request(reqwest::Method::OPTIONS, s.url(api::SIGNUP_PATH))
                .header(ORIGIN, origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type"),
        )
    };
    let polling = |s: &TestServer, origin: &str| {
        send(s.http().get(s.url("/socket.io/?EIO=4&transport=polling")).header(ORIGIN, origin))
    };

    let closed = TestServer::start(&["--no-rate-limits"]).await;
    for origin in [app, evil] {
        let r = send(closed.http().get(closed.url(api::HEALTH_PATH)).header(ORIGIN, origin)).await;
        assert!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{r:?}");
        let r = preflight(&closed, origin).await;
        assert!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{r:?}");
        let r = polling(&closed, origin).await;
        assert!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{r:?}");
    }

    let open = TestServer::start(&["--no-rate-limits", "--cors-origin", app]).await;
    let r = preflight(&open, app).await;
    assert!(r.status.is_success(), "{r:?}");
    assert_eq!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap()), Some(app));
    let signup = open
        .http()
        .post(open.url(api::SIGNUP_PATH))
        .header(ORIGIN, app)
        .json(&json!({"username": unique_name("cors"), "password": PASSWORD}));
    let r = send(signup).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap()), Some(app));
    let r = polling(&open, app).await;
    assert_eq!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap()), Some(app), "{r:?}");
    let r = preflight(&open, evil).await;
    assert!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{r:?}");
    let r = polling(&open, evil).await;
    assert!(r.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{r:?}");
}

//! The pages the api serves besides GraphQL: GraphiQL with its pinned files,
//! and the example front-end under `/app/`.

use api::http::graphiql;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    LOCATION,
};
use sha2::{Digest, Sha384};

use crate::cors::serve;

async fn get(url: String) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .expect("GET")
}

fn content_type(response: &reqwest::Response) -> &str {
    response.headers()[CONTENT_TYPE].to_str().unwrap()
}

#[tokio::test]
async fn graphiql_page_and_its_pinned_files() {
    let addr = serve(&[]).await;
    let response = get(format!("http://{addr}/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "text/html; charset=utf-8");
    let page = response.text().await.unwrap();

    for asset in graphiql::ASSETS
        .iter()
        .filter(|a| !a.path.ends_with("LICENSE"))
    {
        assert!(page.contains(asset.integrity), "{} has no SRI", asset.path);
    }
    assert!(
        !page.contains("https://"),
        "an embedded page loads nothing from elsewhere"
    );
    for asset in graphiql::ASSETS {
        let url = format!(
            "http://{addr}/graphiql/{}@{}/{}",
            asset.package, asset.version, asset.path
        );
        let response = get(url.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(content_type(&response), asset.content_type, "{url}");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        // A client that takes no gzip gets the file itself: the pinned bytes.
        let body = response.bytes().await.unwrap();
        let sri = format!("sha384-{}", BASE64.encode(Sha384::digest(&body)));
        assert_eq!(sri, asset.integrity, "{url}");
        // Browsers get the embedded gzip as it is.
        let response = reqwest::Client::new()
            .get(&url)
            .header(ACCEPT_ENCODING, "gzip, deflate, br")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip", "{url}");
        assert_eq!(content_type(&response), asset.content_type, "{url}");
        let gzipped = response.bytes().await.unwrap();
        assert_eq!(&gzipped[..], asset.bytes, "{url}");
        assert!(gzipped.len() < body.len(), "{url} is compressed");
    }
    for missing in [
        "/graphiql/graphiql@4.1.1/graphiql.min.js",
        "/graphiql/graphiql@4.1.2/package.json",
        "/graphiql/graphiql@4.1.2/../../Cargo.toml",
        "/graphiql/",
    ] {
        let response = get(format!("http://{addr}{missing}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn graphiql_assets_url_and_disabling() {
    let addr = serve(&[("GRAPHIQL_ASSETS_URL", "https://assets.example.test/npm/")]).await;
    let page = get(format!("http://{addr}/")).await.text().await.unwrap();
    assert!(page.contains(
        r#"src="https://assets.example.test/npm/react@18.3.1/umd/react.production.min.js""#
    ));

    let addr = serve(&[("GRAPHIQL", "false")]).await;
    assert_eq!(
        get(format!("http://{addr}/")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!(
            "http://{addr}/graphiql/react@18.3.1/umd/react.production.min.js"
        ))
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn example_app_only_when_enabled() {
    let addr = serve(&[]).await;
    assert_eq!(
        get(format!("http://{addr}/app/")).await.status(),
        StatusCode::NOT_FOUND
    );

    let addr = serve(&[("SERVE_EXAMPLE_APP", "true")]).await;
    let response = get(format!("http://{addr}/app?api=http://127.0.0.1:1")).await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()[LOCATION], "app/?api=http://127.0.0.1:1");

    let response = get(format!("http://{addr}/app/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "text/html; charset=utf-8");
    let csp = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="app.js">"#));

    for (file, media) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("graphql.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let response = get(format!("http://{addr}/app/{file}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert_eq!(content_type(&response), media, "{file}");
    }
    assert_eq!(
        get(format!("http://{addr}/app/secret.txt")).await.status(),
        StatusCode::NOT_FOUND
    );
}

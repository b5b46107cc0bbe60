//! Tokens for the sign-in tests, minted with the crate the api checks them
//! with, and a small HTTP server that serves a JWK set the test can change.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const SECRET: &str = "a test secret of more than thirty-two bytes";
pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "todo-api";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The claims of a good token for `sub`, valid for an hour.
pub fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 3600 })
}

pub fn hs256_with(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("hmac key"),
    )
    .expect("sign HS256")
}

pub fn hs256(claims: &Value) -> String {
    hs256_with(SECRET, claims)
}

/// A test key pair (tests/it/keys/*.pem, made for these tests only).
pub struct Key {
    pub kid: &'static str,
    pub algorithm: Algorithm,
    pub pem: &'static str,
}

pub const RSA_1: Key = Key {
    kid: "rsa-1",
    algorithm: Algorithm::RS256,
    pem: include_str!("keys/rsa-1.pem"),
};
pub const RSA_2: Key = Key {
    kid: "rsa-2",
    algorithm: Algorithm::RS256,
    pem: include_str!("keys/rsa-2.pem"),
};
pub const EC: Key = Key {
    kid: "ec-1",
    algorithm: Algorithm::ES256,
    pem: include_str!("keys/ec-p256.pem"),
};
pub const ED: Key = Key {
    kid: "ed-1",
    algorithm: Algorithm::EdDSA,
    pem: include_str!("keys/ed25519.pem"),
};
/// The public half of RSA_1, as a confused verifier would use it as an
/// HMAC secret.
pub const RSA_1_PUBLIC_PEM: &str = include_str!("keys/rsa-1.pub.pem");

impl Key {
    fn encoding_key(&self) -> EncodingKey {
        let pem = self.pem.as_bytes();
        match self.algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
            _ => EncodingKey::from_ed_pem(pem),
        }
        .expect("test key")
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.to_owned());
        encode(&header, claims, &self.encoding_key()).expect("sign")
    }

    /// The public JWK of this key, with its `kid`.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), self.algorithm).expect("jwk");
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk
    }
}

/// An unsigned token (`alg: none`), as an attacker would send one.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

/// An HS256 token with `kid` whose HMAC secret is `secret`: the classic
/// algorithm-confusion forgery against an RSA public key.
pub fn hs256_with_kid(secret: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("hmac key");
    encode(&header, claims, &key).expect("sign")
}

/// Serves a JWK set at `http://addr/jwks`; change it through `keys`.
pub struct JwksServer {
    pub addr: SocketAddr,
    pub keys: Arc<Mutex<Vec<Jwk>>>,
    pub fetches: Arc<Mutex<usize>>,
}

impl JwksServer {
    pub async fn start(keys: &[&Key]) -> Self {
        let keys = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()));
        let fetches = Arc::new(Mutex::new(0usize));
        let router = Router::new().route(
            "/jwks",
            get({
                let (keys, fetches) = (keys.clone(), fetches.clone());
                move || async move {
                    *fetches.lock().expect("count") += 1;
                    let set = JwkSet {
                        keys: keys.lock().expect("keys").clone(),
                    };
                    axum::Json(serde_json::to_value(set).expect("jwks json"))
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            keys,
            fetches,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn add(&self, key: &Key) {
        self.keys.lock().expect("keys").push(key.jwk());
    }

    pub fn fetches(&self) -> usize {
        *self.fetches.lock().expect("count")
    }

    pub fn set_json(&self) -> String {
        serde_json::to_string(&JwkSet {
            keys: self.keys.lock().expect("keys").clone(),
        })
        .expect("json")
    }
}

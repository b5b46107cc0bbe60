//! Embeds GraphiQL's production build (and the React it runs on) into the api,
//! so the page at `/` needs no CDN.
//!
//! The files come from the npm registry as the exact tarballs pinned below.
//! Each tarball is checked against npm's sha512 integrity, and each file
//! taken from it against its own sha384, the same digest that the page's
//! subresource-integrity attributes carry. No Node or npm is needed.
//!
//! Where the tarballs come from, in order:
//!   1. `GRAPHIQL_ASSETS_DIR`, if set: a folder (absolute path) holding the
//!      three `.tgz` files as npm serves them, for offline builds. Fill it on
//!      any machine with `npm pack graphiql@4.1.2 react@18.3.1 react-dom@18.3.1`
//!      or by copying a build's `OUT_DIR/npm-tarballs/`. Nothing is
//!      downloaded then.
//!   2. this build's own cache, `OUT_DIR/npm-tarballs/`, filled by step 3 the
//!      first time (once per profile; `cargo clean` empties it);
//!   3. the npm registry: `NPM_CONFIG_REGISTRY` (npm's own variable), else
//!      the one `npm config get registry` names where npm is installed, else
//!      the public registry, https://registry.npmjs.org/. HTTP(S)_PROXY
//!      apply, and TLS is checked against the system's trust store, as
//!      cargo does.
//!
//! Only a build that reaches no registry (an offline one, without
//! `GRAPHIQL_ASSETS_DIR`) still succeeds without the files: it prints a
//! `cargo:warning` saying so, embeds nothing, and the page loads the same
//! pinned files from a CDN (or `GRAPHIQL_ASSETS_URL`) with subresource
//! integrity instead; the api says so in its log at start. Set
//! `GRAPHIQL_ASSETS_REQUIRED=true` to make that a build error. After a
//! failed download, `touch api/build.rs` (or change one of the variables
//! above) makes cargo try again.

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha384, Sha512};

/// One npm package version and the files the api serves from it.
struct Package {
    name: &'static str,
    version: &'static str,
    /// npm's `dist.integrity` of the tarball.
    integrity: &'static str,
    files: &'static [File],
}

struct File {
    /// Path inside the package (the tarball's `package/` folder).
    path: &'static str,
    content_type: &'static str,
    /// sha384 of the file, as a subresource-integrity value.
    sri: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// To move to other versions: `npm view NAME@VERSION dist.integrity` gives
/// `integrity`; `openssl dgst -sha384 -binary FILE | base64` of each file in
/// the tarball gives its `sri` (the build refuses files that do not match).
/// React 18 is the last React with UMD builds and GraphiQL 4 the last
/// GraphiQL with one; later versions need a bundler, so stay on these lines.
const PACKAGES: &[Package] = &[
    Package {
        name: "react",
        version: "18.3.1",
        integrity: "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        files: &[
            File {
                path: "umd/react.production.min.js",
                content_type: JS,
                sri: "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
            },
            File {
                path: "LICENSE",
                content_type: TEXT,
                sri: "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks",
            },
        ],
    },
    Package {
        name: "react-dom",
        version: "18.3.1",
        integrity: "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        files: &[
            File {
                path: "umd/react-dom.production.min.js",
                content_type: JS,
                sri: "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
            },
            File {
                path: "LICENSE",
                content_type: TEXT,
                sri: "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks",
            },
        ],
    },
    Package {
        name: "graphiql",
        version: "4.1.2",
        integrity: "sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg==",
        files: &[
            File {
                path: "graphiql.min.js",
                content_type: JS,
                sri: "sha384-9XdHu7ajgGJziD4J1zNBKQ842Q/+zZfDv+ib1eMhZWBH6hPAs806x+Jbcf0yNO6B",
            },
            File {
                path: "graphiql.min.css",
                content_type: CSS,
                sri: "sha384-1el1QShFBnnXTx9x/Cprg82hZWKt0ry29OAYIXt05swbi0KcZDFoj0CWguMpopJr",
            },
            File {
                path: "LICENSE",
                content_type: TEXT,
                sri: "sha384-9JPX1agGTIUB7wtQt2kO3PUO7clmCJp+9e50VMjw1yd8briI77AZnMDBz5VcerBH",
            },
        ],
    },
];

/// No pinned tarball is anywhere near this; a bigger answer is not ours.
const MAX_TARBALL_BYTES: u64 = 16 * 1024 * 1024;

/// Where packages come from when neither npm's variable nor npm names a
/// registry.
const PUBLIC_REGISTRY: &str = "https://registry.npmjs.org/";

fn main() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "GRAPHIQL_ASSETS_DIR",
        "GRAPHIQL_ASSETS_REQUIRED",
        "NPM_CONFIG_REGISTRY",
        "npm_config_registry",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?);

    let embedded = match fetch_all(&out_dir) {
        Ok(()) => true,
        Err(reason) => {
            let required = std::env::var("GRAPHIQL_ASSETS_REQUIRED")
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
            if required {
                return Err(format!(
                    "GraphiQL assets not embedded (GRAPHIQL_ASSETS_REQUIRED is set): {reason}"
                ));
            }
            println!("cargo:warning=GraphiQL assets not embedded: {reason}");
            println!(
                "cargo:warning=offline build: the page at / will load GraphiQL from a CDN \
                 (or GRAPHIQL_ASSETS_URL). Builds that reach an npm registry embed it; \
                 set GRAPHIQL_ASSETS_DIR for an offline build that does, or \
                 `touch api/build.rs` to retry"
            );
            false
        }
    };
    let table = generated(&out_dir, embedded)?;
    std::fs::write(out_dir.join("graphiql_assets.rs"), table)
        .map_err(|e| format!("write graphiql_assets.rs: {e}"))
}

/// The table `src/http/graphiql.rs` includes: every pinned file, with its
/// bytes when they were embedded.
fn generated(out_dir: &Path, embedded: bool) -> Result<String, String> {
    let mut code = String::from("// @generated by api/build.rs\n&[\n");
    for package in PACKAGES {
        for file in package.files {
            let bytes = if embedded {
                let path = out_dir.join(format!("{}.gz", asset_path(package, file)));
                format!("Some(include_bytes!({:?}))", path.display().to_string())
            } else {
                "None".to_owned()
            };
            writeln!(
                code,
                "    Asset {{ package: {:?}, version: {:?}, path: {:?}, content_type: {:?}, integrity: {:?}, bytes: {bytes} }},",
                package.name, package.version, file.path, file.content_type, file.sri,
            )
            .map_err(|e| e.to_string())?;
        }
    }
    code.push_str("]\n");
    Ok(code)
}

/// `graphiql@4.1.2/graphiql.min.js`: the layout of npm CDNs, kept here too.
fn asset_path(package: &Package, file: &File) -> String {
    format!("{}@{}/{}", package.name, package.version, file.path)
}

fn tarball_name(package: &Package) -> String {
    format!("{}-{}.tgz", package.name, package.version)
}

fn fetch_all(out_dir: &Path) -> Result<(), String> {
    let override_dir = std::env::var_os("GRAPHIQL_ASSETS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let cache_dir = out_dir.join("npm-tarballs");
    let mut agent = None;
    for package in PACKAGES {
        let tarball = match &override_dir {
            Some(dir) => {
                let path = dir.join(tarball_name(package));
                println!("cargo:rerun-if-changed={}", path.display());
                let bytes = std::fs::read(&path).map_err(|e| {
                    format!("GRAPHIQL_ASSETS_DIR: cannot read {}: {e}", path.display())
                })?;
                verify_tarball(package, &bytes)
                    .map_err(|e| format!("GRAPHIQL_ASSETS_DIR: {}: {e}", path.display()))?;
                bytes
            }
            None => cached_or_downloaded(package, &cache_dir, &mut agent)?,
        };
        extract(package, &tarball, out_dir)?;
    }
    Ok(())
}

fn cached_or_downloaded(
    package: &Package,
    cache_dir: &Path,
    agent: &mut Option<ureq::Agent>,
) -> Result<Vec<u8>, String> {
    let cached = cache_dir.join(tarball_name(package));
    if let Ok(bytes) = std::fs::read(&cached) {
        if verify_tarball(package, &bytes).is_ok() {
            return Ok(bytes);
        }
        let _ = std::fs::remove_file(&cached);
    }
    let bytes = download(package, agent)?;
    // Written aside and renamed, so that an interrupted build never leaves a
    // truncated tarball behind (it would be refused and fetched again anyway).
    let tmp = cached.with_extension(format!("tgz.{}", std::process::id()));
    let stored = std::fs::create_dir_all(cache_dir)
        .and_then(|()| std::fs::write(&tmp, &bytes))
        .and_then(|()| std::fs::rename(&tmp, &cached));
    if let Err(err) = stored {
        let _ = std::fs::remove_file(&tmp);
        println!(
            "cargo:warning=cannot cache {} in {}: {err}",
            tarball_name(package),
            cache_dir.display()
        );
    }
    Ok(bytes)
}

fn download(package: &Package, agent: &mut Option<ureq::Agent>) -> Result<Vec<u8>, String> {
    let registry = ["NPM_CONFIG_REGISTRY", "npm_config_registry"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .or_else(npm_configured_registry)
        .unwrap_or_else(|| PUBLIC_REGISTRY.to_owned());
    let url = format!(
        "{}/{}/-/{}",
        registry.trim().trim_end_matches('/'),
        package.name,
        tarball_name(package)
    );
    let agent = agent.get_or_insert_with(|| {
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .user_agent(concat!("todo-api-build/", env!("CARGO_PKG_VERSION")))
            // The system's trust store (SSL_CERT_FILE too), as cargo uses:
            // proxies that inspect TLS bring their own root.
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .new_agent()
    });
    let mut response = agent
        .get(&url)
        .call()
        .map_err(|e| format!("download {url}: {e}"))?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_TARBALL_BYTES)
        .read_to_vec()
        .map_err(|e| format!("download {url}: {e}"))?;
    verify_tarball(package, &bytes).map_err(|e| format!("download {url}: {e}"))?;
    Ok(bytes)
}

fn verify_tarball(package: &Package, bytes: &[u8]) -> Result<(), String> {
    let actual = format!("sha512-{}", BASE64.encode(Sha512::digest(bytes)));
    if actual == package.integrity {
        Ok(())
    } else {
        Err(format!(
            "{} is not the pinned {}@{}: integrity {actual}, expected {}",
            tarball_name(package),
            package.name,
            package.version,
            package.integrity
        ))
    }
}

/// Writes the package's pinned files to `OUT_DIR/<name>@<version>/<path>`.
fn extract(package: &Package, tarball: &[u8], out_dir: &Path) -> Result<(), String> {
    let context = |e: std::io::Error| format!("{}: {e}", tarball_name(package));
    let mut found: Vec<Option<Vec<u8>>> = vec![None; package.files.len()];
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    for entry in archive.entries().map_err(context)? {
        let mut entry = entry.map_err(context)?;
        let path = entry
            .path()
            .map_err(context)?
            .to_string_lossy()
            .into_owned();
        let Some(inner) = path.strip_prefix("package/") else {
            continue;
        };
        if let Some(i) = package.files.iter().position(|f| f.path == inner) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(context)?;
            found[i] = Some(bytes);
        }
    }
    for (file, bytes) in package.files.iter().zip(found) {
        let bytes = bytes
            .ok_or_else(|| format!("{} has no package/{}", tarball_name(package), file.path))?;
        let actual = format!("sha384-{}", BASE64.encode(Sha384::digest(&bytes)));
        if actual != file.sri {
            return Err(format!(
                "{}: package/{} has {actual}, expected {}",
                tarball_name(package),
                file.path,
                file.sri
            ));
        }
        // Embedded gzipped: a quarter of the size in the binary, and sent as
        // is to every browser.
        let dest = out_dir.join(format!("{}.gz", asset_path(package, file)));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&bytes).map_err(|e| e.to_string())?;
        let gzipped = encoder.finish().map_err(|e| e.to_string())?;
        std::fs::write(&dest, &gzipped).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    Ok(())
}

/// The registry npm itself would use, if npm is installed.
fn npm_configured_registry() -> Option<String> {
    let output = std::process::Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
        .ok()?;
    let registry = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && registry.starts_with("http")).then_some(registry)
}

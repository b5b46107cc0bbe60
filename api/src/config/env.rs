//! Reading the settings: from the process environment through clap's own
//! `env` support, or from any lookup function through a shim; clap's
//! errors rewritten to name the variable; `.env` loading.

use std::error::Error as _;
use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue};
use clap::{CommandFactory, FromArgMatches, Parser};

use super::{Config, redact};

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub(crate) var: String,
    pub(crate) value: String,
    pub(crate) reason: String,
}

impl Config {
    /// Loads `.env` if present, then reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        load_dotenv();
        Self::try_parse_from(["api"]).map_err(|err| config_error(&Self::command(), &err))
    }

    /// Builds a configuration from any variable source (tests pass a map),
    /// exactly as [`Config::from_env`] would from the environment.
    ///
    /// A shim, because clap's `env` reads only the process environment:
    /// tests (which run in parallel in one process) and the bench build
    /// many configurations side by side from maps, and changing the
    /// environment of a running, multi-threaded process is unsound (hence
    /// `unsafe` `std::env::set_var`). So each variable `get` knows becomes
    /// the `--long=value` argument clap accepts for it, and clap then
    /// parses, defaults and validates exactly as for the environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let command = Self::command();
        let mut argv: Vec<OsString> = vec!["api".into()];
        for arg in command.get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if let Some(value) = var.to_str().and_then(&get) {
                argv.push(format!("--{long}={value}").into());
            }
        }
        // Values come from `get` only: the environment is not read again.
        let command = command.mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(argv)
            .map_err(|err| config_error(&Self::command(), &err))?;
        Self::from_arg_matches(&matches).map_err(|err| config_error(&Self::command(), &err))
    }

    /// Every variable with its default, in declaration order.
    #[cfg(test)]
    pub(crate) fn variables() -> Vec<(String, Option<String>)> {
        Self::command()
            .get_arguments()
            .filter_map(|arg| {
                let var = arg.get_env()?.to_string_lossy().into_owned();
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned());
                Some((var, default))
            })
            .collect()
    }
}

/// `.env` in the working directory, if there is one. A missing file is
/// normal; a malformed one is worth a warning only.
pub fn load_dotenv() {
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("warning: ignoring .env: {err}");
    }
}

/// Turns clap's error about a value into one that names the variable;
/// `None` for other errors (help, version, usage).
pub fn describe_error(err: &clap::Error) -> Option<ConfigError> {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::ValueValidation
        | ErrorKind::InvalidValue
        | ErrorKind::NoEquals
        | ErrorKind::MissingRequiredArgument => Some(config_error(&Config::command(), err)),
        _ => None,
    }
}

/// Turns clap's error into one that names the variable.
fn config_error(command: &clap::Command, err: &clap::Error) -> ConfigError {
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        // A missing argument: the first one named.
        Some(ContextValue::Strings(s)) => s.first().cloned(),
        _ => None,
    };
    // "--port <PORT>" → the argument whose long name that is.
    let var = context(ContextKind::InvalidArg)
        .and_then(|shown| {
            let long = shown
                .trim_start_matches("--")
                .split([' ', '='])
                .next()?
                .to_owned();
            command
                .get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))
                .and_then(|a| a.get_env())
                .map(|v| v.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "configuration".to_owned());
    let value = context(ContextKind::InvalidValue).unwrap_or_default();
    let value = if var == "DATABASE_URL" {
        redact(&value)
    } else {
        value
    };
    // clap's own sentence, without its "error:" prefix and usage lines.
    let reason = if err.kind() == clap::error::ErrorKind::MissingRequiredArgument {
        "must be set too: a setting that was given needs it".to_owned()
    } else {
        err.source().map(ToString::to_string).unwrap_or_else(|| {
            let rendered = err.render().to_string();
            rendered
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        })
    };
    ConfigError { var, value, reason }
}

#[cfg(test)]
mod tests {
    use super::super::from_pairs as config;
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.var, "PORT");
        assert_eq!(err.value, "eighty");
        let err = config(&[("DATABASE_URL", "mysql://u:secret@x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = config(&[("AUTO_MIGRATE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("AUTO_MIGRATE"), "{err}");
        let err = config(&[("DB_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(err.var, "DB_MAX_CONNECTIONS");
        let err = config(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(err.var, "LOG_FORMAT");
    }

    #[test]
    fn every_variable_is_documented_in_env_example() {
        let example = include_str!("../../../.env.example");
        let documented: Vec<&str> = example
            .lines()
            .map(|line| line.trim_start_matches('#').trim_start())
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .filter(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        let declared: Vec<String> = Config::variables().into_iter().map(|(v, _)| v).collect();
        for var in &declared {
            assert!(
                documented.contains(&var.as_str()),
                "{var} is read by the api but not in .env.example"
            );
        }
        // Variables for other readers: docker compose, the build, the tests.
        const NOT_THE_API: &[&str] = &[
            "TODO_IMAGE",
            "API_PORT",
            "POSTGRES_IMAGE",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DB",
            "COMPOSE_PROJECT_NAME",
            "TEST_DATABASE_URL",
        ];
        for var in documented {
            assert!(
                declared.iter().any(|d| d == var) || NOT_THE_API.contains(&var),
                "{var} is in .env.example but the api does not read it"
            );
        }
    }

    /// What `.env.example` sets is what the api does without it: every
    /// uncommented `VAR=value` of the api's is its default, and every
    /// non-empty default is written there (set, or commented out as is).
    #[test]
    fn env_example_states_the_defaults() {
        let example = include_str!("../../../.env.example");
        let assignments: Vec<(bool, &str, &str)> = example
            .lines()
            .filter_map(|line| {
                let commented = line.starts_with('#');
                let (name, value) = line.trim_start_matches('#').trim().split_once('=')?;
                Some((commented, name, value.trim()))
            })
            .collect();
        for (var, default) in Config::variables() {
            let default = default.unwrap_or_default();
            for (commented, name, value) in &assignments {
                if !commented && *name == var {
                    assert_eq!(
                        *value, default,
                        ".env.example sets {var}={value}, but its default is {default:?}"
                    );
                }
            }
            if !default.is_empty() {
                assert!(
                    assignments
                        .iter()
                        .any(|(_, name, value)| *name == var && *value == default),
                    ".env.example does not state {var}'s default {default:?}"
                );
            }
        }
    }
}

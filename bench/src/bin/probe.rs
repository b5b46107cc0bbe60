//! The benchmark's helpers, called by `bench/run`:
//!
//! - `probe lua DIR`: writes one wrk script per scenario (`DIR/<scenario>.lua`),
//!   and one per read scenario for PostGraphile (`DIR/postgraphile-<scenario>.lua`).
//! - `probe body SCENARIO`: prints the scenario's first request body
//!   (`postgraphile-<read scenario>`: the peer's).
//! - `probe statements DATABASE_URL [SQL_DIR]`: runs each scenario's requests
//!   in-process through the api's router over that database, prints the SQL
//!   statements per request, and on PostgreSQL writes the statements of one
//!   request of each read scenario as a pgbench script (`SQL_DIR/<scenario>.sql`,
//!   its parameters in `SQL_DIR/<scenario>.vars`, one `name=value` a line for
//!   `pgbench -D`).
//! - `probe ready HOST:PORT SAMPLES CMD [ARGS...]`: starts CMD SAMPLES times and
//!   prints the milliseconds from exec to the first 200 on `/readyz`, sorted.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::App;
use bench::{PGBENCH_PICK_TASK, PGBENCH_TASK_ID, Scenario, hot_task, task_id};
use sea_orm::{DbBackend, Statement, Value};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("lua") if args.len() == 2 => lua(&args[1]),
        Some("body") if args.len() == 2 => body(&args[1]),
        Some("statements") if (2..=3).contains(&args.len()) => {
            statements(&args[1], args.get(2).map(String::as_str)).await
        }
        Some("ready") if args.len() >= 4 => ready(&args[1], &args[2], &args[3..]),
        _ => Err(
            "usage: probe lua DIR | probe body SCENARIO | \
                  probe statements DATABASE_URL [SQL_DIR] | probe ready HOST:PORT SAMPLES CMD [ARGS...]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("probe: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A Lua long string holding `s` verbatim.
fn lua_string(s: &str) -> String {
    let mut level = 0;
    while s.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{s}]{eq}]")
}

fn lua_table(name: &str, bodies: &[String]) -> String {
    let mut out = format!("local {name} = {{\n");
    for body in bodies {
        let _ = writeln!(out, "  {},", lua_string(body));
    }
    out.push_str("}\n");
    out
}

/// Every script: POSTs JSON, seeds each thread's random numbers apart, and
/// counts answers that carry GraphQL `errors` (wrk only counts HTTP errors).
const LUA_HEAD: &str = r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  math.randomseed(os.time() * 64 + (tid or 0))
  gql_errors = 0
end
function response(status, headers, body)
  if string.find(body, '"errors"', 1, true) then gql_errors = gql_errors + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do n = n + (thread:get("gql_errors") or 0) end
  io.write(string.format("GraphQL errors: %d\n", n))
end
"#;

fn lua(dir: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    for scenario in Scenario::ALL {
        let mut script = format!(
            "-- wrk script of the `{}` scenario, written by `probe lua`.\n{LUA_HEAD}",
            scenario.name()
        );
        match scenario {
            Scenario::Mix => {
                let tables = [
                    ("list20", Scenario::List20),
                    ("nested", Scenario::List20Nested),
                    ("get", Scenario::GetById),
                    ("create", Scenario::Create),
                    ("update", Scenario::Update),
                ];
                for (name, s) in tables {
                    script.push_str(&lua_table(name, &s.bodies()));
                }
                // 30 % each read, 5 % each write: 90/10.
                script.push_str(
                    r#"local function pick(t) return t[math.random(#t)] end
function request()
  local r = math.random(100)
  local body
  if r <= 30 then body = pick(list20)
  elseif r <= 60 then body = pick(nested)
  elseif r <= 90 then body = pick(get)
  elseif r <= 95 then body = pick(create)
  else body = pick(update) end
  return wrk.format(nil, nil, nil, body)
end
"#,
                );
            }
            _ => push_bodies(&mut script, &scenario.bodies()),
        }
        let path = format!("{dir}/{}.lua", scenario.name());
        std::fs::write(&path, script).map_err(|e| format!("{path}: {e}"))?;
    }
    // The same reads, and creation, in PostGraphile's terms, for the peer.
    for scenario in bench::postgraphile::SCENARIOS {
        let mut script = format!(
            "-- wrk script of the `{}` scenario for PostGraphile, written by `probe lua`.\n{LUA_HEAD}",
            scenario.name()
        );
        push_bodies(&mut script, &bench::postgraphile::bodies(scenario));
        let path = format!("{dir}/postgraphile-{}.lua", scenario.name());
        std::fs::write(&path, script).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// One fixed body, or one picked at random per request.
fn push_bodies(script: &mut String, bodies: &[String]) {
    if let [body] = bodies {
        let _ = writeln!(script, "wrk.body = {}", lua_string(body));
    } else {
        script.push_str(&lua_table("bodies", bodies));
        script.push_str(
            "function request()\n  return wrk.format(nil, nil, nil, \
             bodies[math.random(#bodies)])\nend\n",
        );
    }
}

/// The first request body of a scenario (`postgraphile-<scenario>`: the
/// peer's), for curl.
fn body(name: &str) -> Result<(), String> {
    let body = match name.strip_prefix("postgraphile-") {
        Some(read) => Scenario::from_name(read).and_then(|s| bench::postgraphile::body(s, 0)),
        None => Scenario::from_name(name).map(|s| s.body(0)),
    };
    println!("{}", body.ok_or_else(|| format!("no scenario {name}"))?);
    Ok(())
}

/// Requests per scenario for counting statements.
const PROBES: u32 = 40;

async fn statements(url: &str, sql_dir: Option<&str>) -> Result<(), String> {
    let config = bench::config(url)?;
    let (db, log) = bench::connect_logged(&config).await?;
    let backend = db.get_database_backend();
    let app = App::start(Arc::new(config.clone()), db)
        .await
        .map_err(|e| e.to_string())?;
    println!("scenario\tstatements_per_request");
    for scenario in Scenario::ALL {
        let mut total = 0;
        for i in 0..PROBES {
            take(&log);
            bench::post(&app.router, scenario.body(i))
                .await
                .map_err(|e| format!("{}: {e}", scenario.name()))?;
            let statements = take(&log);
            total += statements.len();
            if i == 0
                && scenario.is_read()
                && backend == DbBackend::Postgres
                && let Some(dir) = sql_dir
            {
                write_pgbench(dir, scenario, &statements)?;
            }
        }
        println!(
            "{}\t{:.2}",
            scenario.name(),
            total as f64 / f64::from(PROBES)
        );
    }
    Ok(())
}

/// The statements logged since the last call that belong to a request: the
/// event hub reads and prunes the log on its own clock (on start and every
/// second), on the same logged connection, and its statements would
/// otherwise land in whichever request ran meanwhile.
fn take(log: &Mutex<Vec<Statement>>) -> Vec<Statement> {
    let mut statements = log
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    statements.retain(|s| !from_event_hub(&s.sql));
    statements
}

/// A request only ever appends to the event log; reading it, deleting from
/// it and moving its watermark is the hub's (api/src/events).
fn from_event_hub(sql: &str) -> bool {
    let event_log = sql.contains("\"task_events\"") || sql.contains("\"task_event_log\"");
    event_log && !sql.trim_start().starts_with("INSERT")
}

/// One GraphQL request's statements as one pgbench transaction: every
/// parameter stays a parameter (`:sXpY`, given with `-D`), except the task id
/// of `get by id`, which pgbench picks among the same hot tasks.
fn write_pgbench(dir: &str, scenario: Scenario, statements: &[Statement]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let picked = Value::from(task_id(hot_task(0)));
    let mut script = format!(
        "-- The SQL of one `{}` request, as the api issues it (written by `probe statements`).\n",
        scenario.name()
    );
    let mut vars = String::new();
    if scenario == Scenario::GetById {
        let _ = writeln!(script, "{PGBENCH_PICK_TASK}");
    }
    for (s, statement) in statements.iter().enumerate() {
        let values = statement
            .values
            .as_ref()
            .map(|v| v.0.as_slice())
            .unwrap_or_default();
        let mut sql = String::with_capacity(statement.sql.len());
        let mut chars = statement.sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' || !chars.peek().is_some_and(char::is_ascii_digit) {
                sql.push(c);
                continue;
            }
            let mut digits = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            let index: usize = digits.parse().map_err(|_| "bad placeholder")?;
            let value = values
                .get(index - 1)
                .ok_or_else(|| format!("no value for ${index}"))?;
            if scenario == Scenario::GetById && *value == picked {
                sql.push_str(PGBENCH_TASK_ID);
                continue;
            }
            match sea_orm::sea_query::sea_value_to_json_value(value) {
                serde_json::Value::Null => sql.push_str("NULL"),
                json => {
                    let name = format!("s{}p{index}", s + 1);
                    let text = match json {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    let _ = writeln!(vars, "{name}={text}");
                    let _ = write!(sql, ":{name}");
                }
            }
        }
        let _ = writeln!(script, "{};", sql.trim_end_matches(';'));
    }
    let base = format!("{dir}/{}", scenario.name());
    std::fs::write(format!("{base}.sql"), script).map_err(|e| format!("{base}.sql: {e}"))?;
    std::fs::write(format!("{base}.vars"), vars).map_err(|e| format!("{base}.vars: {e}"))?;
    Ok(())
}

fn ready(addr: &str, samples: &str, command: &[String]) -> Result<(), String> {
    use std::net::ToSocketAddrs as _;
    let addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or("no address")?;
    let samples: usize = samples.parse().map_err(|_| "SAMPLES must be a number")?;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let mut child = std::process::Command::new(&command[0])
            .args(&command[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", command[0]))?;
        let took = bench::wait_ready(addr, started, Duration::from_secs(20));
        let _ = child.kill();
        let _ = child.wait();
        times.push(took.ok_or("not ready within 20 s")?.as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    times.sort_by(f64::total_cmp);
    let list: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    println!("{}", list.join(" "));
    Ok(())
}

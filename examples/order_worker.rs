//! The seed's producer as a separate process: a worker that reports processed
//! orders to one user's key through Redis, where `user_updates` streams them.
//!
//! ```sh
//! export TINY_CACHE_URL=redis://127.0.0.1:6379/0
//! cargo run --example user_updates --features redis &                # the consumer side
//! curl -N http://127.0.0.1:8080/user-updates/42 &
//! cargo run --example order_worker --features redis -- 42 3 --done   # 3 orders for user 42, then [DONE]
//! ```

use serde_json::json;

const USAGE: &str = "usage: order_worker <user-id> [orders (default 1)] [--done]";

#[tokio::main]
async fn main() -> tiny::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let done = args.iter().any(|a| a == "--done");
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let user = positional
        .next()
        .ok_or_else(|| tiny::Error::bad_request(USAGE))?;
    let orders: u32 = match positional.next() {
        Some(n) => n
            .parse()
            .map_err(|_| tiny::Error::bad_request(format!("`{n}` is not a number; {USAGE}")))?,
        None => 1,
    };
    if std::env::var_os("TINY_CACHE_URL").is_none() {
        return Err(tiny::Error::internal(
            "order_worker reaches the server through Redis: set \
             TINY_CACHE_URL=redis://127.0.0.1:6379/0 for both processes",
        ));
    }
    tiny::try_cache()?.ping().await?;

    let key = format!("user:{user}:updates");
    for order in 1234..1234 + orders {
        tiny::sse()
            .send_key(&key, json!({ "status": "processed", "order": order }))
            .await?;
        println!("sent order {order} to {key}");
    }
    if done {
        tiny::sse().send_key(&key, tiny::sse::DONE).await?;
        println!("sent [DONE] to {key}");
    }
    Ok(())
}

//! Controllers from a library crate: `App::new()` mounts them once the
//! binary names the crate (`use tiny_suite_library as _;`), as the crate
//! docs' "Controllers in a library crate" says. Without that line the
//! crate is not linked and its controllers are not there.

use tiny::App;
use tiny::http::StatusCode;
use tiny::test::Client;

// The one line: links the crate, and with it its controllers' registrations.
use tiny_suite_library as _;

#[tokio::test]
async fn app_new_mounts_the_controllers_of_a_library_crate_the_binary_names() {
    let client = Client::new(App::new());

    let catalogue = client.get("/catalogue").await;
    assert_eq!(catalogue.status(), StatusCode::OK);
    assert_eq!(catalogue.text(), "the catalogue, from a library crate");

    // A controller in another module of the library, and a stream.
    let mut orders = client.sse("/orders/7").await;
    let first = orders.next().await.expect("a first frame from /orders/7");
    assert_eq!(first.data, "order 7");
}

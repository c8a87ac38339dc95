//! The generated `README.md`, and the command `tiny new` prints to run the
//! app, both read from the example's `//!` comment: the examples already say
//! how to run and try them, so a project says it too, in its own terms.

use super::source::is_ident_char;
use crate::catalogue::{Catalogue, Example};

/// An example's `//!` comment, made to speak about the project instead of
/// the example: `cargo run --example <it>` becomes `cargo run`, another
/// example's `cargo run --example <other>` runs `../<other>`.
#[derive(Debug)]
pub(super) struct Doc {
    /// The prose, Markdown, without the first `sh` block.
    prose: Vec<String>,
    /// The first `sh` block up to the line that runs the app.
    run: Vec<String>,
    /// The rest of that block: how to try the app.
    try_it: Vec<String>,
    /// Other examples the comment runs.
    others: Vec<String>,
}

impl Doc {
    /// The comment at the top of `example`, rewritten for the project.
    pub(super) fn read(example: Example<'_>, catalogue: &Catalogue<'_>) -> Self {
        let mut doc = Doc {
            prose: Vec::new(),
            run: Vec::new(),
            try_it: Vec::new(),
            others: Vec::new(),
        };
        let mut block: Option<Vec<String>> = None;
        let mut seen_block = false;
        let mut in_other_fence = false;
        for line in example.source.lines() {
            let Some(text) = line.trim_start().strip_prefix("//!") else {
                break;
            };
            let text = text.strip_prefix(' ').unwrap_or(text);
            let text = doc.rewrite(text, example.name, catalogue);
            if let Some(lines) = &mut block {
                if text.trim_start().starts_with("```") {
                    doc.try_it = std::mem::take(lines);
                    doc.finish_block();
                    block = None;
                } else {
                    lines.push(text);
                }
            } else if !seen_block
                && !in_other_fence
                && matches!(text.trim(), "```sh" | "```bash" | "```shell")
            {
                seen_block = true;
                block = Some(Vec::new());
            } else {
                if text.trim_start().starts_with("```") {
                    in_other_fence = !in_other_fence;
                }
                let blank_again =
                    text.trim().is_empty() && doc.prose.last().is_some_and(|l| l.trim().is_empty());
                if in_other_fence || !blank_again {
                    doc.prose.push(text);
                }
            }
        }
        if let Some(lines) = block {
            // An unclosed block ends with the comment.
            doc.try_it = lines;
            doc.finish_block();
        }
        if doc.run.is_empty() {
            doc.run.push("cargo run".to_owned());
        }
        while doc.prose.last().is_some_and(|l| l.trim().is_empty()) {
            doc.prose.pop();
        }
        doc
    }

    /// Splits the block held in `try_it` after the line that runs the app.
    fn finish_block(&mut self) {
        let ran = self.try_it.iter().position(|l| runs_the_app(l));
        let rest = self.try_it.split_off(ran.map_or(0, |i| i + 1));
        self.run = std::mem::replace(&mut self.try_it, rest);
    }

    /// `line` with every `cargo run --example NAME` of a known example rewritten.
    fn rewrite(&mut self, line: &str, this: &str, catalogue: &Catalogue<'_>) -> String {
        const RUN: &str = "cargo run --example ";
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find(RUN) {
            let after = &rest[at + RUN.len()..];
            let len = after
                .find(|c: char| !is_ident_char(c))
                .unwrap_or(after.len());
            let name = &after[..len];
            // The examples' package gates backends behind its features; a
            // project of its own enables them on its tiny dependency.
            let len = len + features_flag(&after[len..]);
            out.push_str(&rest[..at]);
            if name == this {
                out.push_str("cargo run");
            } else if catalogue.example(name).is_some() {
                out.push_str(&format!("cargo run --manifest-path ../{name}/Cargo.toml"));
                if !self.others.iter().any(|o| o == name) {
                    self.others.push(name.to_owned());
                }
            } else {
                out.push_str(&rest[at..at + RUN.len() + len]);
            }
            rest = &after[len..];
        }
        out.push_str(rest);
        out
    }

    /// `source` with its `//!` comment rewritten as the README is, so the
    /// project's `src/main.rs` names its own run command.
    pub(super) fn project_source(example: Example<'_>, catalogue: &Catalogue<'_>) -> String {
        let mut scratch = Doc {
            prose: Vec::new(),
            run: Vec::new(),
            try_it: Vec::new(),
            others: Vec::new(),
        };
        let mut out = String::with_capacity(example.source.len());
        for line in example.source.split_inclusive('\n') {
            if line.trim_start().starts_with("//!") {
                out.push_str(&scratch.rewrite(line, example.name, catalogue));
            } else {
                out.push_str(line);
            }
        }
        out
    }

    /// The command that runs the app, for the message after `tiny new`.
    pub(super) fn run_line(&self) -> String {
        self.run
            .iter()
            .rev()
            .find(|l| runs_the_app(l))
            .map_or("cargo run", |l| l.as_str())
            .to_owned()
    }

    /// The `README.md` of the project named `package`, made from `example`.
    pub(super) fn readme(
        &self,
        package: &str,
        example: Example<'_>,
        catalogue: &Catalogue<'_>,
    ) -> String {
        let mut out = format!("# {package}\n\n");
        if !self.prose.is_empty() {
            out.push_str(&self.prose.join("\n"));
            out.push_str("\n\n");
        }
        out.push_str(&format!(
            "Made by `tiny new` from tiny's `{}` example; it depends on tiny at `{}`.\n\n",
            example.name, catalogue.tiny_path
        ));
        out.push_str("## Run it\n\n```sh\n");
        for line in &self.run {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("```\n\n");
        out.push_str(
            "It listens on `127.0.0.1:8080`; set `TINY_ADDR` to change that \
             (`TINY_ADDR=0.0.0.0:3000 cargo run`). Every other setting (`TINY_…`) \
             is listed in tiny's README, under Configuration.\n",
        );
        if !self.try_it.is_empty() {
            out.push_str("\n## Try it\n\n```sh\n");
            for line in &self.try_it {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("```\n");
        }
        if !self.others.is_empty() {
            out.push_str("\nThe commands above run tiny's other examples from beside this directory; make them with:\n\n```sh\n");
            for other in &self.others {
                out.push_str(&format!("tiny new ../{other} --example {other}\n"));
            }
            out.push_str("```\n");
        }
        out
    }
}

/// Whether `line` (rewritten) is a command that runs this project, perhaps
/// after setting variables: `cargo run`, `TINY_ADDR=… cargo run -- 42`.
fn runs_the_app(line: &str) -> bool {
    let line = line.trim_start();
    !line.starts_with('#')
        && line.match_indices("cargo run").any(|(at, m)| {
            let before = line[..at].chars().next_back();
            let after = &line[at + m.len()..];
            before.is_none_or(char::is_whitespace)
                && (after.is_empty() || after.starts_with(char::is_whitespace))
                && !after.trim_start().starts_with("--manifest-path")
        })
}

/// The length of a ` --features NAME[,NAME…]` at the start of `rest`, or 0.
fn features_flag(rest: &str) -> usize {
    const FLAG: &str = " --features ";
    let Some(names) = rest.strip_prefix(FLAG) else {
        return 0;
    };
    let len = names
        .find(|c: char| !(is_ident_char(c) || c == ','))
        .unwrap_or(names.len());
    if len == 0 { 0 } else { FLAG.len() + len }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README of `example` from the sample catalogue, as a project named `package`.
    fn readme_of(example: Example<'_>, package: &str) -> String {
        let catalogue = Catalogue::SAMPLE;
        Doc::read(example, &catalogue).readme(package, example, &catalogue)
    }

    fn sample(name: &str) -> Example<'static> {
        Catalogue::SAMPLE.example(name).unwrap()
    }

    #[test]
    fn the_readme_has_the_command_that_runs_it_and_the_one_that_tries_it() {
        assert_eq!(
            readme_of(sample("heartbeat"), "my-app"),
            "# my-app\n\
             \n\
             A heartbeat.\n\
             \n\
             Made by `tiny new` from tiny's `heartbeat` example; it depends on tiny at `/checkout/tiny`.\n\
             \n\
             ## Run it\n\
             \n\
             ```sh\n\
             cargo run    # then open http://127.0.0.1:8080/\n\
             ```\n\
             \n\
             It listens on `127.0.0.1:8080`; set `TINY_ADDR` to change that \
             (`TINY_ADDR=0.0.0.0:3000 cargo run`). Every other setting (`TINY_…`) \
             is listed in tiny's README, under Configuration.\n\
             \n\
             ## Try it\n\
             \n\
             ```sh\n\
             curl -N http://127.0.0.1:8080/heartbeat\n\
             ```\n"
        );
        assert_eq!(
            Doc::read(sample("heartbeat"), &Catalogue::SAMPLE).run_line(),
            "cargo run    # then open http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn another_example_the_comment_runs_is_run_from_beside_the_project() {
        let readme = readme_of(sample("worker"), "my-app");
        assert!(
            readme.contains(
                "```sh\n\
                 export TINY_CACHE_URL=redis://127.0.0.1:6379/0\n\
                 cargo run --manifest-path ../heartbeat/Cargo.toml &    # the server\n\
                 cargo run -- 42 --done\n\
                 ```\n"
            ),
            "{readme}"
        );
        assert!(!readme.contains("## Try it"), "{readme}");
        assert!(
            readme.contains("tiny new ../heartbeat --example heartbeat\n"),
            "{readme}"
        );
    }

    #[test]
    fn a_features_flag_of_the_examples_package_is_dropped_with_the_example_name() {
        let source = "//! Key mode.\n//!\n//! ```sh\n//! cargo run --example keyed --features redis\n\
                      //! ```\n//!\n//! Feed it with `cargo run --example worker --features redis,postgres -- 42`.\n\
                      fn main() {}\n";
        let example = Example {
            name: "keyed",
            source,
        };
        let readme = readme_of(example, "keyed");
        assert!(readme.contains("```sh\ncargo run\n```"), "{readme}");
        assert!(
            readme.contains("`cargo run --manifest-path ../worker/Cargo.toml -- 42`"),
            "{readme}"
        );
        assert!(!readme.contains("--features"), "{readme}");
    }

    #[test]
    fn the_prose_around_the_block_keeps_one_blank_line_and_names_the_other_projects() {
        let source = "//! Key mode.\n//!\n//! ```sh\n//! cargo run --example keyed\n//! ```\n//!\n\
                      //! Feed it with `cargo run --example worker -- 42`.\nfn main() {}\n";
        let example = Example {
            name: "keyed",
            source,
        };
        let readme = readme_of(example, "keyed");
        assert!(
            readme.starts_with(
                "# keyed\n\
                 \n\
                 Key mode.\n\
                 \n\
                 Feed it with `cargo run --manifest-path ../worker/Cargo.toml -- 42`.\n\
                 \n\
                 Made by"
            ),
            "{readme}"
        );
        assert!(readme.contains("```sh\ncargo run\n```\n"), "{readme}");
        assert!(
            readme.ends_with("```sh\ntiny new ../worker --example worker\n```\n"),
            "{readme}"
        );
    }

    #[test]
    fn the_line_that_runs_the_app_may_set_variables_first() {
        assert!(runs_the_app("cargo run"));
        assert!(runs_the_app("  cargo run -- 42 --done   # then"));
        assert!(runs_the_app("TINY_ADDR=0.0.0.0:80 cargo run &"));
        assert!(!runs_the_app(
            "cargo run --manifest-path ../other/Cargo.toml &"
        ));
        assert!(!runs_the_app("# cargo run"));
        assert!(!runs_the_app("curl -N http://127.0.0.1:8080/"));
        assert!(!runs_the_app("cargo runner"));
    }
}

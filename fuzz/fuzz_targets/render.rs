//! Any bytes as a manifest file through `tiered render`'s pipeline: YAML documents of
//! any kind → deserialise → validate → build children and the AWS plan. A panic is a
//! finding; errors are the expected answer to bad input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tiered::cli::render::{Input, render};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = render(&[Input {
            name: "fuzz.yaml".to_owned(),
            text: text.to_owned(),
        }]);
    }
});

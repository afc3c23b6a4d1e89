//! The guide's scenario, shown as YAML in step 4, is the one its step 3 block sweeps: the
//! text a reader copies is the text that was tested.

// Proves the YAML block of docs/guide.md equals the SCENARIO constant its tested Rust block
// runs, so the scenario a reader sees cannot drift from the one the guide's test finds the
// bug with.
#[test]
fn the_guide_shows_the_scenario_it_tests() {
    let guide = include_str!("../../docs/guide.md");
    let yaml = guide
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block in the guide");
    let constant = guide
        .split("const SCENARIO: &str = \"\n")
        .nth(1)
        .and_then(|rest| rest.split("\";").next())
        .expect("the SCENARIO constant in the guide");
    assert_eq!(yaml, constant);
}

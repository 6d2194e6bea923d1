//! Tests of CRD schema validation, pruning and defaulting; each names the upstream
//! behaviour it pins. The schema resembles a TieredApp/ManagedDatabase CRD version.

use serde_json::{Value, json};

use super::errors::go_float;
use super::{CompiledCrdSchema, FieldError, FieldErrorKind, validate_and_prune};

const DNS_LABEL: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

fn crd_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["name", "engine"],
                "x-kubernetes-validations": [
                    {"rule": "self.minReplicas <= self.maxReplicas", "message": "minReplicas must not exceed maxReplicas"}
                ],
                "properties": {
                    "name": {"type": "string", "maxLength": 12, "pattern": DNS_LABEL},
                    "engine": {
                        "type": "string",
                        "enum": ["postgres", "mysql", "mariadb"],
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "engine is immutable"}]
                    },
                    "minReplicas": {"type": "integer", "format": "int32", "minimum": 0, "default": 1},
                    "maxReplicas": {"type": "integer", "format": "int32", "default": 3},
                    "storageGiB": {"type": "integer", "multipleOf": 10, "maximum": 500, "exclusiveMaximum": true},
                    "tiers": {
                        "type": "array",
                        "maxItems": 3,
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "pattern": DNS_LABEL},
                                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
                                "role": {"type": "string", "enum": ["presentation", "application", "worker"], "default": "application"},
                                "calls": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                                "image": {
                                    "type": "string",
                                    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "image is immutable"}]
                                }
                            }
                        }
                    },
                    "tags": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "target": {"x-kubernetes-int-or-string": true},
                    "window": {"type": "string", "nullable": true},
                    "since": {"type": "string", "format": "date-time"},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }
    })
}

fn object(spec: Value) -> Value {
    let mut object = json!({
        "apiVersion": "tiered.io/v1alpha1",
        "kind": "ManagedDatabase",
        "metadata": {"name": "db", "namespace": "shop", "labels": {"a": "b"}}
    });
    object["spec"] = spec;
    object
}

fn admit(spec: Value) -> Result<Value, Vec<FieldError>> {
    validate_and_prune(&crd_schema(), object(spec), None)
}

fn update(old_spec: Value, new_spec: Value) -> Result<Value, Vec<FieldError>> {
    let old = admit(old_spec).expect("the stored object is valid");
    validate_and_prune(&crd_schema(), object(new_spec), Some(&old))
}

/// The error the server adds when a blocking schema error keeps CEL rules from running.
const NOT_CHECKED: &str = "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

fn messages(result: Result<Value, Vec<FieldError>>) -> Vec<String> {
    result
        .expect_err("the object is invalid")
        .iter()
        .map(FieldError::message)
        .collect()
}

/// Checks that admitting `spec` fails, its first error reading `message` with `reason`.
fn assert_first_error(spec: Value, message: &str, reason: &str) {
    let errors = admit(spec).unwrap_err();
    assert_eq!(errors[0].message(), message);
    assert_eq!(errors[0].reason(), reason);
}

#[test]
fn a_valid_object_is_admitted_with_defaults_applied_inside_list_items() {
    // upstream: structural defaulting fills absent fields, also in list items
    let stored =
        admit(json!({"name": "news", "engine": "postgres", "tiers": [{"name": "web"}]})).unwrap();
    assert_eq!(stored["spec"]["minReplicas"], 1);
    assert_eq!(stored["spec"]["maxReplicas"], 3);
    assert_eq!(
        stored["spec"]["tiers"][0],
        json!({"name": "web", "port": 8080, "role": "application"})
    );
}

#[test]
fn unknown_fields_are_pruned_and_reported_but_not_rejected() {
    // upstream: apiextensions-apiserver structural pruning drops unknown fields
    let schema = CompiledCrdSchema::new(&crd_schema());
    let admitted = schema
        .admit(object(json!({"name": "news", "engine": "mysql", "colour": "red", "tiers": [{"name": "web", "size": 3}]})), None)
        .unwrap();
    assert!(admitted.object["spec"].get("colour").is_none());
    assert!(admitted.object["spec"]["tiers"][0].get("size").is_none());
    assert_eq!(
        admitted.unknown_fields,
        ["spec.colour", "spec.tiers[0].size"]
    );
    assert_eq!(
        admitted.object["metadata"]["labels"],
        json!({"a": "b"}),
        "metadata is left alone"
    );
    assert_eq!(admitted.object["kind"], "ManagedDatabase");
}

#[test]
fn preserve_unknown_fields_and_embedded_resources_keep_what_they_hold() {
    // upstream: x-kubernetes-preserve-unknown-fields stops pruning at that level
    let stored = admit(json!({
        "name": "news", "engine": "mysql",
        "extra": {"anything": {"deep": true}},
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    }))
    .unwrap();
    assert_eq!(stored["spec"]["extra"]["anything"]["deep"], true);
    assert_eq!(stored["spec"]["template"]["metadata"]["name"], "p");
}

#[test]
fn a_port_above_the_maximum_reads_like_the_server() {
    // upstream: kube-openapi maxIncFail mapped to field.Invalid with the value
    assert_first_error(
        json!({"name": "news", "engine": "mysql", "tiers": [{"name": "web", "port": 70000}]}),
        "spec.tiers[0].port: Invalid value: 70000: spec.tiers[0].port in body should be less than or equal to 65535",
        "FieldValueInvalid",
    );
}

#[test]
fn an_unknown_enum_value_lists_the_supported_values() {
    // upstream: EnumFailCode becomes field.NotSupported with quoted values
    assert_first_error(
        json!({"name": "news", "engine": "oracle"}),
        r#"spec.engine: Unsupported value: "oracle": supported values: "postgres", "mysql", "mariadb""#,
        "FieldValueNotSupported",
    );
}

#[test]
fn a_missing_required_field_is_a_required_value() {
    // upstream: RequiredFailCode becomes field.Required(path, "")
    assert_first_error(
        json!({"engine": "mysql"}),
        "spec.name: Required value",
        "FieldValueRequired",
    );
}

#[test]
fn a_name_breaking_the_pattern_quotes_the_pattern() {
    // upstream: patternFail "should match '<pattern>'"
    let errors = admit(json!({"name": "news", "engine": "mysql", "tiers": [{"name": "Web_1"}]}))
        .unwrap_err();
    assert_eq!(
        errors[0].message(),
        format!(
            r#"spec.tiers[0].name: Invalid value: "Web_1": spec.tiers[0].name in body should match '{DNS_LABEL}'"#
        )
    );
}

#[test]
fn a_too_long_string_counts_runes_and_omits_the_value() {
    // upstream: TooLongFailCode becomes field.TooLong; maxLength counts runes like Go
    assert_first_error(
        json!({"name": "abcdefghijklm", "engine": "mysql"}),
        "spec.name: Too long: may not be more than 12 bytes",
        "FieldValueTooLong",
    );
    let tags_ok = admit(json!({"name": "n", "engine": "mysql", "tags": {"team": "ééééé"}}));
    assert!(
        tags_ok.is_ok(),
        "five runes fit a maxLength of 5 although they are ten bytes"
    );
}

#[test]
fn a_wrong_type_is_a_type_invalid_error_naming_the_actual_type() {
    // upstream: InvalidTypeCode becomes field.TypeInvalid with the data's type name
    assert_first_error(
        json!({"name": "news", "engine": "mysql", "minReplicas": "two"}),
        r#"spec.minReplicas: Invalid value: "string": spec.minReplicas in body must be of type integer: "string""#,
        "FieldValueTypeInvalid",
    );
}

#[test]
fn int_or_string_accepts_both_and_names_both_types_otherwise() {
    // upstream: x-kubernetes-int-or-string is type [integer, string]
    assert!(admit(json!({"name": "n", "engine": "mysql", "target": 3})).is_ok());
    assert!(admit(json!({"name": "n", "engine": "mysql", "target": "50%"})).is_ok());
    assert_eq!(
        messages(admit(
            json!({"name": "n", "engine": "mysql", "target": true})
        )),
        [
            r#"spec.target: Invalid value: "boolean": spec.target in body must be of type integer,string: "boolean""#,
            NOT_CHECKED
        ]
    );
}

#[test]
fn a_duplicate_map_list_key_is_a_duplicate_of_the_key_fields() {
    // upstream: structurallisttype.ValidateListSetsAndMaps reports field.Duplicate at the index
    assert_first_error(
        json!({"name": "n", "engine": "mysql", "tiers": [{"name": "web"}, {"name": "api"}, {"name": "web"}]}),
        r#"spec.tiers[2]: Duplicate value: {"name":"web"}"#,
        "FieldValueDuplicate",
    );
}

#[test]
fn a_duplicate_set_item_is_a_duplicate_value() {
    // upstream: list-type set items must be unique
    let errors = admit(json!({"name": "n", "engine": "mysql", "tiers": [{"name": "web", "calls": ["api", "db", "api"]}]})).unwrap_err();
    assert_eq!(
        errors[0].message(),
        r#"spec.tiers[0].calls[2]: Duplicate value: "api""#
    );
}

#[test]
fn too_many_items_is_too_many() {
    // upstream: MaxItemsFailCode becomes field.TooMany(actual, max)
    let tiers: Vec<Value> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| json!({"name": n}))
        .collect();
    assert_first_error(
        json!({"name": "n", "engine": "mysql", "tiers": tiers}),
        "spec.tiers: Too many: 4: must have at most 3 items",
        "FieldValueTooMany",
    );
}

#[test]
fn a_failed_cel_rule_reports_the_rule_message_on_the_node_with_its_type() {
    // upstream: CEL validator field.Invalid(fldPath, sts.Type, rule message)
    let errors = admit(json!({"name": "n", "engine": "mysql", "minReplicas": 5, "maxReplicas": 2}))
        .unwrap_err();
    assert_eq!(
        messages(Err(errors)),
        [r#"spec: Invalid value: "object": minReplicas must not exceed maxReplicas"#]
    );
}

#[test]
fn a_rule_without_message_says_failed_rule() {
    // upstream: ruleMessageOrDefault is "failed rule: <rule>"
    let mut schema = crd_schema();
    schema["properties"]["spec"]["x-kubernetes-validations"] =
        json!([{"rule": "self.minReplicas <= self.maxReplicas"}]);
    let errors = validate_and_prune(
        &schema,
        object(json!({"name": "n", "engine": "mysql", "minReplicas": 9})),
        None,
    )
    .unwrap_err();
    assert_eq!(
        errors[0].detail,
        "failed rule: self.minReplicas <= self.maxReplicas"
    );
}

#[test]
fn a_transition_rule_runs_only_on_update_and_pins_the_field() {
    // upstream: transition rules are evaluated only when an old value correlates
    assert!(admit(json!({"name": "n", "engine": "mariadb"})).is_ok());
    assert!(
        update(
            json!({"name": "n", "engine": "mysql"}),
            json!({"name": "n", "engine": "mysql", "minReplicas": 2})
        )
        .is_ok()
    );
    assert_eq!(
        messages(update(
            json!({"name": "n", "engine": "mysql"}),
            json!({"name": "n", "engine": "postgres"})
        )),
        [r#"spec.engine: Invalid value: "string": engine is immutable"#]
    );
}

#[test]
fn map_list_items_correlate_by_key_not_by_index() {
    // upstream: oldSelf of a list-type map item is the old item with the same keys
    let old = json!({"name": "n", "engine": "mysql", "tiers": [{"name": "web", "image": "w:1"}, {"name": "api", "image": "a:1"}]});
    let reordered = json!({"name": "n", "engine": "mysql", "tiers": [{"name": "api", "image": "a:1"}, {"name": "web", "image": "w:1"}, {"name": "job", "image": "j:1"}]});
    assert!(update(old.clone(), reordered).is_ok());
    let changed = json!({"name": "n", "engine": "mysql", "tiers": [{"name": "api", "image": "a:2"}, {"name": "web", "image": "w:1"}]});
    assert_eq!(
        messages(update(old, changed)),
        [r#"spec.tiers[0].image: Invalid value: "string": image is immutable"#]
    );
}

#[test]
fn every_error_is_reported_in_a_stable_order() {
    // upstream: the server aggregates all field errors into one 422
    let spec = json!({"engine": "oracle", "minReplicas": -1, "tiers": [{"name": "Web", "port": 0}], "tags": {"team": "toolong"}});
    let expected = [
        "spec.minReplicas: Invalid value: -1: spec.minReplicas in body should be greater than or equal to 0",
        "spec.tags.team: Too long: may not be more than 5 bytes",
        r#"spec.tiers[0].name: Invalid value: "Web": spec.tiers[0].name in body should match '^[a-z]([-a-z0-9]*[a-z0-9])?$'"#,
        "spec.tiers[0].port: Invalid value: 0: spec.tiers[0].port in body should be greater than or equal to 1",
        r#"spec.engine: Unsupported value: "oracle": supported values: "postgres", "mysql", "mariadb""#,
        "spec.name: Required value",
        NOT_CHECKED,
    ];
    let first = messages(admit(spec.clone()));
    let mut sorted_expected = expected.map(str::to_owned).to_vec();
    sorted_expected.sort();
    let mut sorted_first = first.clone();
    sorted_first.sort();
    assert_eq!(sorted_first, sorted_expected);
    assert_eq!(messages(admit(spec)), first, "the order is stable");
}

#[test]
fn cel_rules_are_skipped_after_a_blocking_schema_error() {
    // upstream: hasBlockingErr in the customresource strategy skips CEL rules
    let errors =
        admit(json!({"name": "n", "engine": "oracle", "minReplicas": 5, "maxReplicas": 2}))
            .unwrap_err();
    assert!(
        errors
            .iter()
            .all(|e| !e.detail.contains("minReplicas must not exceed"))
    );
    assert_eq!(errors.last().map(|e| e.path.as_str()), Some("<nil>"));
    // A non-blocking error (an Invalid bound) still lets the rules run.
    let errors = admit(json!({"name": "n", "engine": "mysql", "minReplicas": 5, "maxReplicas": 2, "storageGiB": 7})).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.detail == "minReplicas must not exceed maxReplicas")
    );
}

#[test]
fn an_unchanged_invalid_value_is_ratcheted_on_update() {
    // upstream: CRD validation ratcheting (GA in 1.33) ignores errors on unchanged values
    let schema = crd_schema();
    let stored = object(
        json!({"name": "way-too-long-name", "engine": "mysql", "minReplicas": 1, "maxReplicas": 3}),
    );
    let mut edited = stored.clone();
    edited["spec"]["maxReplicas"] = json!(4);
    assert!(validate_and_prune(&schema, edited, Some(&stored)).is_ok());
    let mut renamed = stored.clone();
    renamed["spec"]["name"] = json!("another-too-long-name");
    assert_eq!(
        messages(validate_and_prune(&schema, renamed, Some(&stored)))[0],
        "spec.name: Too long: may not be more than 12 bytes"
    );
}

#[test]
fn nulls_are_dropped_or_defaulted_unless_nullable() {
    // upstream: PruneNonNullableNullsWithoutDefaults, then defaulting of nulls
    let stored = admit(
        json!({"name": "n", "engine": "mysql", "since": null, "minReplicas": null, "window": null}),
    )
    .unwrap();
    assert!(stored["spec"].get("since").is_none());
    assert_eq!(stored["spec"]["minReplicas"], 1);
    assert_eq!(stored["spec"]["window"], Value::Null);
    assert_eq!(
        messages(admit(
            json!({"name": "n", "engine": "mysql", "tiers": [{"name": "w", "calls": [null]}]})
        )),
        [
            r#"spec.tiers[0].calls[0]: Invalid value: "null": spec.tiers[0].calls[0] in body must be of type string: "null""#,
            NOT_CHECKED
        ]
    );
}

#[test]
fn numeric_bounds_formats_and_multiples_are_checked() {
    // upstream: exclusiveMaximum (boolean, `OpenAPI` v3.0), multipleOf, int32 range, date-time
    let msgs = messages(admit(
        json!({"name": "n", "engine": "mysql", "storageGiB": 500, "maxReplicas": 3_000_000_000_i64}),
    ));
    assert!(
        msgs.contains(
            &"spec.storageGiB: Invalid value: 500: spec.storageGiB in body should be less than 500"
                .to_owned()
        )
    );
    assert!(msgs.contains(&r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.maxReplicas"#.to_owned()));
    assert_eq!(
        messages(admit(
            json!({"name": "n", "engine": "mysql", "storageGiB": 15})
        )),
        ["spec.storageGiB: Invalid value: 15: spec.storageGiB in body should be a multiple of 10"]
    );
    assert!(
        admit(json!({"name": "n", "engine": "mysql", "since": "2024-05-01T10:00:00Z"})).is_ok()
    );
    assert_eq!(
        messages(admit(
            json!({"name": "n", "engine": "mysql", "since": "yesterday"})
        )),
        [
            r#"spec.since: Invalid value: "yesterday": spec.since in body must be of type date-time: "yesterday""#,
            NOT_CHECKED
        ]
    );
}

#[test]
fn an_embedded_resource_needs_api_version_and_kind() {
    // upstream: schemaobjectmeta validateEmbeddedResource requires apiVersion and kind
    assert_eq!(
        messages(admit(
            json!({"name": "n", "engine": "mysql", "template": {"apiVersion": "v1"}})
        )),
        [
            "spec.template.kind: Required value: must not be empty",
            NOT_CHECKED
        ]
    );
}

#[test]
fn value_validations_any_of_and_not_apply_without_pruning() {
    // upstream: anyOf/not are value validations reported by schemaPropsValidator
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
        "not": {"required": ["a", "b"]}
    }}});
    let check = |spec: Value| validate_and_prune(&schema, json!({"spec": spec}), None);
    assert!(check(json!({"a": "x"})).is_ok());
    let none = messages(check(json!({})));
    assert_eq!(
        none[0],
        r#"<nil>: Invalid value: "": "spec" must validate at least one schema (anyOf)"#
    );
    assert_eq!(
        messages(check(json!({"a": "x", "b": "y"}))),
        [r#"<nil>: Invalid value: "": "spec" must not validate the schema (not)"#]
    );
}

#[test]
fn reasons_and_go_number_formatting_match_apimachinery() {
    // upstream: field.ErrorType strings and Go %v of float64
    assert_eq!(
        FieldErrorKind::TypeInvalid.reason(),
        "FieldValueTypeInvalid"
    );
    assert_eq!(FieldErrorKind::Forbidden.reason(), "FieldValueForbidden");
    assert_eq!(go_float(65535.0), "65535");
    assert_eq!(go_float(1.5), "1.5");
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(0.00001), "1e-05");
}

#[test]
fn a_compiled_schema_can_be_shared_across_threads() {
    // upstream: one validator per CRD version serves all requests
    fn shareable<T: Send + Sync>(_: &T) {}
    let schema = CompiledCrdSchema::new(&crd_schema());
    shareable(&schema);
    assert!(schema.compile_errors().is_empty());
    let broken = CompiledCrdSchema::new(
        &json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}]}),
    );
    assert_eq!(broken.compile_errors().len(), 1);
}

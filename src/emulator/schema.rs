//! Validation of custom resources against their CRD's structural OpenAPI schema and CEL
//! rules, with pruning of unknown fields, as the real API server does before it stores them.

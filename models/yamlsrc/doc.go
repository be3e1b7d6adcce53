// Package yamlsrc reads YAML documents with a file and line for every
// error. It holds what the operator-written formats of Kairos share: the
// lead-scoring plan (models/lead), the next-best-action catalogue
// (models/nba), the trigger rules (stream/trigger), the model manifests
// (models/torch) and the API keys file (api/auth).
//
// Each of those formats keeps its own error type (*lead.PlanError,
// *nba.CatalogueError, ...) and its own wording: a Source is told how to
// build the caller's error (Source.Err) and, where the formats word the
// same problem differently, the words (Source.Unknown, Source.Repeated,
// Source.SyntaxPrefix). What it does for all of them alike:
//
//   - Document reads exactly one document, turning yaml.v3's syntax
//     errors ("yaml: line 3: did not find expected key") into the line and
//     message of the caller's error;
//   - Each and Mapping walk a mapping against its known field names,
//     rejecting unknown and repeated keys and naming the fields that are
//     known, with the dotted path of every field (Join, Index);
//   - Fail places any other problem on a node's line.
//
// The package parses no values: what a number or a duration is, and how
// a wrong one is worded, belongs to each format. It registers no metrics.
package yamlsrc

//! Names of the resources a run creates, derived from its `runId` so that a second execution
//! of the same run finds them instead of creating them again; and names of the executions an
//! S3 event starts, derived from the object so that the same event starts one execution.

/// The longest name Personalize takes for a dataset import job, solution version or campaign.
pub const MAX_NAME_LENGTH: usize = 63;

/// The longest name Step Functions takes for an execution.
pub const MAX_EXECUTION_NAME_LENGTH: usize = 80;

/// Hex digits of the hash that keeps a shortened name unique.
const HASH_DIGITS: usize = 8;

/// Joins `parts` with `-` into a name the service takes: `[a-zA-Z0-9][a-zA-Z0-9_-]*`, at most
/// 63 characters. When the parts already spell such a name, that is the name. Otherwise other
/// characters become `-` and a hash of the parts as given ends the name, so that run ids that
/// differ only where they were cleaned up (`week:3`, `week.3`, `week-3`) or cut short still
/// name different resources.
pub fn resource_name(parts: &[&str]) -> String {
    name_within(parts, MAX_NAME_LENGTH)
}

/// Joins `parts` into an execution name as [`resource_name`] does, at most 80 characters of
/// `[a-zA-Z0-9_-]`: Step Functions takes more characters than that, but these read the same in
/// the console, in ARNs and in CloudWatch metrics.
pub fn execution_name(parts: &[&str]) -> String {
    name_within(parts, MAX_EXECUTION_NAME_LENGTH)
}

/// Joins `parts` with `-` into a name of at most `max_length` characters (more than the hash
/// needs) that starts with a letter or digit and holds only `[a-zA-Z0-9_-]`: the parts as they
/// are when they already spell such a name, otherwise cleaned up and cut short, ending with a
/// hash of the parts as given.
pub fn name_within(parts: &[&str], max_length: usize) -> String {
    debug_assert!(
        max_length > HASH_DIGITS + 1,
        "room for a readable head and the hash"
    );
    let joined = parts.join("-");
    let mut name = String::with_capacity(joined.len());
    for c in joined.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        // Runs of replaced characters (`://`, `T00:00:00`) read better as one dash.
        if c == '-' && name.ends_with('-') {
            continue;
        }
        name.push(c);
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name.insert(0, 'r');
    }
    if name == joined && name.len() <= max_length {
        return name;
    }
    let keep = (max_length - HASH_DIGITS - 1).min(name.len());
    let head = name[..keep].trim_end_matches('-');
    format!("{head}-{:08x}", fnv1a(joined.as_bytes()) as u32)
}

/// FNV-1a, 64 bits: stable across builds and platforms, which `std`'s hasher does not promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_that_is_already_a_name_is_kept_as_it_is() {
        assert_eq!(
            resource_name(&["movielens", "weekly-2026-12-03", "interactions"]),
            "movielens-weekly-2026-12-03-interactions"
        );
    }

    #[test]
    fn a_schedule_time_becomes_a_readable_name_with_a_hash() {
        let name = resource_name(&["movielens", "2026-12-03T00:00:00Z", "interactions"]);
        assert!(
            name.starts_with("movielens-2026-12-03T00-00-00Z-interactions-"),
            "{name}"
        );
        assert_eq!(
            name.len(),
            "movielens-2026-12-03T00-00-00Z-interactions-".len() + 8
        );
    }

    #[test]
    fn run_ids_that_differ_only_in_punctuation_name_different_resources() {
        let names: Vec<String> = ["week:3", "week-3", "week/3", "week.3", "week--3"]
            .iter()
            .map(|id| resource_name(&["movielens", id, "interactions"]))
            .collect();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let unicode = resource_name(&["movielens", "ünïcode-日本", "interactions"]);
        assert!(unicode.len() <= MAX_NAME_LENGTH, "{unicode}");
        assert!(unicode.is_ascii(), "{unicode}");
    }

    #[test]
    fn a_long_s3_run_id_is_cut_to_63_characters_and_stays_unique() {
        let a =
            "s3://my-data-bucket/movielens/interactions/2026/12/03/part-00000.csv/0123456789abcdef";
        let b =
            "s3://my-data-bucket/movielens/interactions/2026/12/03/part-00001.csv/0123456789abcdef";
        let name_a = resource_name(&["movielens", a, "interactions"]);
        let name_b = resource_name(&["movielens", b, "interactions"]);
        assert!(name_a.len() <= MAX_NAME_LENGTH, "{name_a}");
        assert_ne!(name_a, name_b);
        assert!(
            name_a.starts_with("movielens-s3-my-data-bucket"),
            "{name_a}"
        );
        assert_eq!(name_a, resource_name(&["movielens", a, "interactions"]));
    }

    #[test]
    fn an_execution_name_keeps_to_80_allowed_characters_and_tells_etags_apart() {
        let object = |etag: &str| {
            execution_name(&[
                "my-data-bucket",
                "movielens/interactions/2026/12/03/part-00000 (copy).csv",
                etag,
            ])
        };
        let a = object("9b2cf535f27731c974343645a3985328");
        let b = object("9b2cf535f27731c974343645a3985329");
        for name in [&a, &b] {
            assert!(name.len() <= MAX_EXECUTION_NAME_LENGTH, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name}"
            );
            assert!(name.starts_with(
                "my-data-bucket-movielens-interactions-2026-12-03-part-00000-copy-csv"
            ));
        }
        assert_ne!(a, b);
        assert_eq!(a, object("9b2cf535f27731c974343645a3985328"));
        // What already is a short name stays as it is, as resource names do.
        assert_eq!(execution_name(&["week-1", "full"]), "week-1-full");
        // The same parts make a resource name that is cut shorter, with the same hash.
        let resource = resource_name(&["my-data-bucket", "a/b.csv", "etag"]);
        let execution = execution_name(&["my-data-bucket", "a/b.csv", "etag"]);
        assert_eq!(
            resource[resource.len() - 8..],
            execution[execution.len() - 8..]
        );
    }

    #[test]
    fn a_name_always_starts_with_a_letter_or_digit() {
        assert!(resource_name(&["_x"]).starts_with("r_x-"));
        assert!(resource_name(&["-", "a"]).starts_with("r-a-"));
    }
}

//! Names of the resources a run creates, derived from its `runId` so that a second execution
//! of the same run finds them instead of creating them again.

/// The longest name Personalize takes for a dataset import job, solution version or campaign.
pub const MAX_NAME_LENGTH: usize = 63;

/// Hex digits of the hash that keeps a shortened name unique.
const HASH_DIGITS: usize = 8;

/// Joins `parts` with `-` into a name the service takes: `[a-zA-Z0-9][a-zA-Z0-9_-]*`, at most
/// 63 characters. When the parts already spell such a name, that is the name. Otherwise other
/// characters become `-` and a hash of the parts as given ends the name, so that run ids that
/// differ only where they were cleaned up (`week:3`, `week.3`, `week-3`) or cut short still
/// name different resources.
pub fn resource_name(parts: &[&str]) -> String {
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
    if name == joined && name.len() <= MAX_NAME_LENGTH {
        return name;
    }
    let keep = (MAX_NAME_LENGTH - HASH_DIGITS - 1).min(name.len());
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
    fn a_name_always_starts_with_a_letter_or_digit() {
        assert!(resource_name(&["_x"]).starts_with("r_x-"));
        assert!(resource_name(&["-", "a"]).starts_with("r-a-"));
    }
}

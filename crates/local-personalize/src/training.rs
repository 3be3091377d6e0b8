//! Training and offline evaluation of solution versions: a small, deterministic recommender
//! that stands in for the service's recipes.
//!
//! A model is item-to-item co-occurrence (cosine similarity over the binary user-item matrix)
//! with popularity to fill up, or popularity alone. FULL training evaluates the way Amazon
//! Personalize does: it holds out the newest interactions of a random 10% of the users, trains
//! on the rest, scores each held-out user's top 25 against what it went on to do, and then
//! trains the model a campaign serves on all interactions. The split is seeded, so the same
//! solution version gets the same metrics every time.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The fewest interactions training accepts.
pub const MIN_TRAINING_INTERACTIONS: usize = 1_000;

/// The fewest users with 2 or more interactions training accepts.
pub const MIN_TRAINING_USERS: usize = 25;

/// The most neighbours a model keeps per item: enough to fill a list of 25 from a short
/// history, while a MovieLens model stays a few megabytes of JSON.
pub const MAX_NEIGHBOURS: usize = 100;

/// How many of a user's newest distinct items count towards co-occurrence.
///
/// Pair counting costs the square of each user's item count, so one heavy user (a crawler, a
/// test account) could make training quadratic; only that user's newest items pair up. Their
/// older items still count towards popularity, so a capped user's items look slightly less
/// similar than they are. No MovieLens 100K user reaches the cap (the heaviest has 737 items).
pub const MAX_ITEMS_PER_USER: usize = 1_000;

/// How many recommendations each held-out user's metrics are computed from.
const EVALUATION_LIST: usize = 25;

/// One interaction as training reads it (already filtered by event type / value by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The `USER_ID`.
    pub user: String,
    /// The `ITEM_ID`.
    pub item: String,
    /// The `TIMESTAMP`, in epoch seconds.
    pub timestamp: i64,
}

/// What a model is trained on: interactions plus the item ids of the items dataset (catalog).
///
/// Users and items are numbered in id order, so every result that breaks ties by number breaks
/// them by id, whatever order the interactions came in.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// User ids, ascending.
    users: Vec<String>,
    /// Item ids from the interactions and the catalog, ascending.
    items: Vec<String>,
    /// Per user (same order as `users`), its items' numbers, oldest interaction first.
    histories: Vec<Vec<u32>>,
    /// How many interactions there are in all.
    interactions: usize,
}

impl TrainingSet {
    /// Numbers the users and items and sorts each user's interactions by timestamp (stably,
    /// so interactions with one timestamp keep the order they came in).
    pub fn new(
        interactions: Vec<Interaction>,
        catalog_items: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut users: Vec<String> = interactions.iter().map(|i| i.user.clone()).collect();
        users.sort_unstable();
        users.dedup();
        let mut items: Vec<String> = interactions
            .iter()
            .map(|i| i.item.clone())
            .chain(catalog_items)
            .collect();
        items.sort_unstable();
        items.dedup();

        let user_number: HashMap<&str, u32> = number(&users);
        let item_number: HashMap<&str, u32> = number(&items);
        let mut timed: Vec<Vec<(i64, u32)>> = vec![Vec::new(); users.len()];
        for interaction in &interactions {
            let user = user_number[interaction.user.as_str()] as usize;
            timed[user].push((
                interaction.timestamp,
                item_number[interaction.item.as_str()],
            ));
        }
        let histories = timed
            .into_iter()
            .map(|mut history| {
                history.sort_by_key(|&(timestamp, _)| timestamp);
                history.into_iter().map(|(_, item)| item).collect()
            })
            .collect();

        Self {
            users,
            items,
            histories,
            interactions: interactions.len(),
        }
    }

    /// How many interactions the set holds.
    pub fn interactions(&self) -> usize {
        self.interactions
    }

    /// Users with at least `n` interactions.
    pub fn users_with_at_least(&self, n: usize) -> usize {
        self.histories.iter().filter(|h| h.len() >= n).count()
    }

    /// Distinct items in the interactions and the catalog together (coverage's denominator).
    pub fn catalog_size(&self) -> usize {
        self.items.len()
    }

    /// Every user's item ids, oldest first (for batch inference: the user's history). An item
    /// the user interacted with more than once appears once per interaction; a user with no
    /// interactions has an empty history.
    pub fn history(&self, user: &str) -> Vec<&str> {
        match self.users.binary_search_by(|u| u.as_str().cmp(user)) {
            Ok(u) => self.histories[u]
                .iter()
                .map(|&item| self.items[item as usize].as_str())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Each id's position in `ids`.
fn number(ids: &[String]) -> HashMap<&str, u32> {
    ids.iter()
        .enumerate()
        .map(|(n, id)| (id.as_str(), n as u32))
        .collect()
}

/// Checks the service's minimums; Err is the failureReason the solution version reports.
pub fn check_requirements(set: &TrainingSet) -> Result<(), String> {
    if set.interactions() < MIN_TRAINING_INTERACTIONS {
        return Err(format!(
            "There are not enough interactions: the dataset group has {} interactions (after the \
             solution's event type filter); training needs at least {MIN_TRAINING_INTERACTIONS}.",
            set.interactions()
        ));
    }
    let users = set.users_with_at_least(2);
    if users < MIN_TRAINING_USERS {
        return Err(format!(
            "There are not enough users with at least 2 interactions: {users} found; training \
             needs at least {MIN_TRAINING_USERS}."
        ));
    }
    Ok(())
}

/// Which scoring a recipe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// Items that the same users interacted with, then popularity to fill up.
    CoOccurrence,
    /// The most popular items the user has not interacted with.
    Popularity,
}

/// A trained model: popularity order plus each item's nearest co-occurring items.
///
/// Items are referred to by their position in `items`, which is in id order, so comparing
/// positions breaks ties by id.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Model {
    /// How the model scores.
    algorithm: Algorithm,
    /// How many users the model was trained on: popularity scores are shares of them.
    users: u32,
    /// Item ids, ascending: every item of the training set, interacted with or not.
    items: Vec<String>,
    /// Per item, the distinct users that interacted with it.
    popularity: Vec<u32>,
    /// Items with at least one user, most popular first, ties by id.
    by_popularity: Vec<u32>,
    /// Per item, up to `MAX_NEIGHBOURS` other items, most similar first, ties by id (empty for
    /// the popularity algorithm).
    neighbours: Vec<Vec<u32>>,
    /// Per item, the cosine similarity of each of its `neighbours`.
    similarities: Vec<Vec<f32>>,
}

impl Model {
    /// Top `n` items for a user whose history (item ids) is given, excluding items in the
    /// history; co-occurrence scores first (sum over history items of their similarity), then
    /// popularity to fill up. Ties broken by item id ascending so results repeat. Popularity
    /// algorithm: popularity only.
    ///
    /// An item repeated in the history counts once; ids the model does not know are ignored;
    /// items nobody interacted with are never recommended. A popularity score is the item's
    /// share of the users, scaled below the last co-occurrence score listed, so scores never
    /// rise down the list.
    pub fn recommend(&self, history: &[&str], n: usize) -> Vec<(String, f64)> {
        let mut seen: Vec<u32> = history.iter().filter_map(|id| self.number(id)).collect();
        seen.sort_unstable();
        seen.dedup();

        let mut ranked = Vec::new();
        if self.algorithm == Algorithm::CoOccurrence {
            let mut votes: Vec<(u32, f32)> = seen
                .iter()
                .flat_map(|&item| self.neighbours_of(item))
                .filter(|(other, _)| seen.binary_search(other).is_err())
                .collect();
            // Sorting by score too within an item makes the f64 sum's order, and so its last
            // bit, independent of the order the history came in.
            votes.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            for (item, score) in votes {
                match ranked.last_mut() {
                    Some((last, sum)) if *last == item => *sum += f64::from(score),
                    _ => ranked.push((item, f64::from(score))),
                }
            }
            sort_ranked(&mut ranked);
            ranked.truncate(n);
        }

        self.fill_by_popularity(&mut ranked, &seen, n);
        self.named(ranked)
    }

    /// Top `n` items related to one item (its neighbours, then popularity), excluding the item
    /// itself. An item the model does not know gets the most popular items.
    pub fn related(&self, item: &str, n: usize) -> Vec<(String, f64)> {
        let number = self.number(item);
        let mut ranked: Vec<(u32, f64)> = match number {
            Some(item) if self.algorithm == Algorithm::CoOccurrence => self
                .neighbours_of(item)
                .take(n)
                .map(|(other, score)| (other, f64::from(score)))
                .collect(),
            _ => Vec::new(),
        };
        let exclude: Vec<u32> = number.into_iter().collect();

        self.fill_by_popularity(&mut ranked, &exclude, n);
        self.named(ranked)
    }

    /// The algorithm the model was trained with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Appends the most popular items not yet listed and not in `exclude` (sorted) until the
    /// list has `n`.
    ///
    /// An item's popularity score is its share of the users, scaled by the lowest
    /// co-occurrence score already listed (1 when none is), so a filled-up list's scores never
    /// rise: popularity only ranks below co-occurrence evidence.
    fn fill_by_popularity(&self, ranked: &mut Vec<(u32, f64)>, exclude: &[u32], n: usize) {
        if ranked.len() >= n {
            return;
        }
        let floor = ranked.last().map_or(1.0, |&(_, score)| score);
        let mut listed: Vec<u32> = ranked.iter().map(|&(item, _)| item).collect();
        listed.sort_unstable();
        let users = f64::from(self.users.max(1));
        for &item in &self.by_popularity {
            if ranked.len() >= n {
                break;
            }
            if exclude.binary_search(&item).is_ok() || listed.binary_search(&item).is_ok() {
                continue;
            }
            let share = f64::from(self.popularity[item as usize]) / users;
            ranked.push((item, floor * share));
        }
    }

    /// An item id's number, if the model knows the item.
    fn number(&self, id: &str) -> Option<u32> {
        self.items
            .binary_search_by(|item| item.as_str().cmp(id))
            .ok()
            .map(|n| n as u32)
    }

    /// An item's neighbours with their similarities, most similar first.
    fn neighbours_of(&self, item: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let item = item as usize;
        self.neighbours[item]
            .iter()
            .copied()
            .zip(self.similarities[item].iter().copied())
    }

    /// The ranked numbers as item ids.
    fn named(&self, ranked: Vec<(u32, f64)>) -> Vec<(String, f64)> {
        ranked
            .into_iter()
            .map(|(item, score)| (self.items[item as usize].clone(), score))
            .collect()
    }
}

/// Sorts by score, highest first, then by item number (id) ascending.
fn sort_ranked(ranked: &mut [(u32, f64)]) {
    ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// Offline metrics by name: "coverage", "mean_reciprocal_rank_at_25",
/// "normalized_discounted_cumulative_gain_at_5", "..._at_10", "..._at_25", "precision_at_5",
/// "precision_at_10" and "precision_at_25".
pub type Metrics = BTreeMap<String, f64>;

/// A FULL training's outcome.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The model trained on all interactions, which a campaign serves.
    pub model: Model,
    /// The hold-out's metrics.
    pub metrics: Metrics,
    /// The held-out users the metrics average over: those with at least one held-out item
    /// that is not already in their history.
    pub test_users: usize,
}

/// FULL training: evaluates on a hold-out, then returns the model trained on ALL interactions
/// (what a campaign serves) and the hold-out's metrics.
pub fn train_and_evaluate(set: &TrainingSet, algorithm: Algorithm, seed: u64) -> Evaluation {
    let split = hold_out(set, seed);
    let held_out_model = fit(set, algorithm, &split.kept);

    let mut recommended = Vec::with_capacity(split.test.len());
    let mut relevant = Vec::with_capacity(split.test.len());
    for test in &split.test {
        let user = test.user as usize;
        let history: Vec<&str> = set.histories[user][..split.kept[user]]
            .iter()
            .map(|&item| set.items[item as usize].as_str())
            .collect();
        let list = held_out_model.recommend(&history, EVALUATION_LIST);
        recommended.push(list.into_iter().map(|(item, _)| item).collect());
        relevant.push(
            test.relevant
                .iter()
                .map(|&item| set.items[item as usize].clone())
                .collect::<Vec<_>>(),
        );
    }
    let metrics = ranking_metrics(&recommended, &relevant, set.catalog_size());
    let test_users = relevant.iter().filter(|r| !r.is_empty()).count();

    Evaluation {
        model: train(set, algorithm),
        metrics,
        test_users,
    }
}

/// UPDATE training: the model on all interactions, no evaluation.
pub fn train(set: &TrainingSet, algorithm: Algorithm) -> Model {
    let kept: Vec<usize> = set.histories.iter().map(Vec::len).collect();
    fit(set, algorithm, &kept)
}

/// A stable 64-bit seed from a string (FNV-1a), so a version ARN gives the same split every
/// time.
pub fn seed_from(text: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    text.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The metric code: for each test user, its top-25 recommendation list and its relevant
/// (held-out) items; users with no relevant items are skipped; averages over the rest.
/// `catalog_size` is coverage's denominator: coverage = distinct items recommended across all
/// lists / catalog_size.
///
/// With no user to average over the ranking metrics are 0, and so is coverage with an empty
/// catalog.
pub fn ranking_metrics(
    recommended: &[Vec<String>],
    relevant: &[Vec<String>],
    catalog_size: usize,
) -> Metrics {
    const CUTOFFS: [usize; 3] = [5, 10, 25];

    let mut precision = [0.0; CUTOFFS.len()];
    let mut ndcg = [0.0; CUTOFFS.len()];
    let mut reciprocal_rank = 0.0;
    let mut users = 0usize;
    for (list, relevant) in recommended.iter().zip(relevant) {
        if relevant.is_empty() {
            continue;
        }
        users += 1;
        let relevant: HashSet<&str> = relevant.iter().map(String::as_str).collect();
        let hits: Vec<bool> = list
            .iter()
            .map(|item| relevant.contains(item.as_str()))
            .collect();

        if let Some(rank) = hits.iter().take(EVALUATION_LIST).position(|&hit| hit) {
            reciprocal_rank += 1.0 / (rank + 1) as f64;
        }
        for (c, &k) in CUTOFFS.iter().enumerate() {
            let top = &hits[..k.min(hits.len())];
            precision[c] += top.iter().filter(|&&hit| hit).count() as f64 / k as f64;
            let dcg: f64 = top
                .iter()
                .enumerate()
                .filter(|&(_, &hit)| hit)
                .map(|(i, _)| discount(i))
                .sum();
            let ideal: f64 = (0..relevant.len().min(k)).map(discount).sum();
            ndcg[c] += dcg / ideal;
        }
    }

    let mean = |total: f64| {
        if users == 0 {
            0.0
        } else {
            total / users as f64
        }
    };
    let distinct: HashSet<&str> = recommended.iter().flatten().map(String::as_str).collect();
    let coverage = if catalog_size == 0 {
        0.0
    } else {
        distinct.len() as f64 / catalog_size as f64
    };

    let mut metrics = Metrics::new();
    metrics.insert("coverage".into(), coverage);
    metrics.insert("mean_reciprocal_rank_at_25".into(), mean(reciprocal_rank));
    for (c, k) in CUTOFFS.iter().enumerate() {
        metrics.insert(format!("precision_at_{k}"), mean(precision[c]));
        metrics.insert(
            format!("normalized_discounted_cumulative_gain_at_{k}"),
            mean(ndcg[c]),
        );
    }
    metrics
}

/// The gain of a hit at 0-based position `i`: 1 / log2(rank + 1), rank being `i + 1`.
fn discount(i: usize) -> f64 {
    1.0 / ((i + 2) as f64).log2()
}

/// Which interactions a FULL training holds out.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    /// Per user, how many of its oldest interactions the held-out model trains on.
    kept: Vec<usize>,
    /// The held-out users, in the order they were picked.
    test: Vec<TestUser>,
}

/// One held-out user.
#[derive(Debug, PartialEq, Eq)]
struct TestUser {
    /// The user's number.
    user: u32,
    /// Distinct held-out items that are not in the user's kept history, newest last.
    relevant: Vec<u32>,
}

/// Picks 10% of the users with 2 or more interactions (rounded up, at least one) with a
/// seeded shuffle, and holds out the newest tenth of each one's interactions (rounded up),
/// always keeping at least one as its history.
fn hold_out(set: &TrainingSet, seed: u64) -> Split {
    // Users are numbered in id order, so the candidates' order, and with it the pick, does not
    // depend on the order the interactions came in.
    let mut candidates: Vec<u32> = (0..set.users.len() as u32)
        .filter(|&u| set.histories[u as usize].len() >= 2)
        .collect();
    candidates.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let picks = if candidates.is_empty() {
        0
    } else {
        candidates.len().div_ceil(10).max(1)
    };

    let mut kept: Vec<usize> = set.histories.iter().map(Vec::len).collect();
    let mut test = Vec::with_capacity(picks);
    for &user in &candidates[..picks] {
        let history = &set.histories[user as usize];
        let held = history.len().div_ceil(10).min(history.len() - 1);
        let keep = history.len() - held;
        kept[user as usize] = keep;

        let mut relevant = Vec::new();
        for &item in &history[keep..] {
            if !history[..keep].contains(&item) && !relevant.contains(&item) {
                relevant.push(item);
            }
        }
        test.push(TestUser { user, relevant });
    }
    Split { kept, test }
}

/// Trains on each user's `kept[user]` oldest interactions.
fn fit(set: &TrainingSet, algorithm: Algorithm, kept: &[usize]) -> Model {
    let items = set.items.len();

    // Each user's distinct items, newest first and capped at MAX_ITEMS_PER_USER, as one flat
    // list; `seen_by` marks an item as already taken for the current user without a set.
    let mut popularity = vec![0u32; items];
    let mut seen_by = vec![u32::MAX; items];
    let mut baskets: Vec<u32> = Vec::new();
    let mut basket_starts: Vec<usize> = vec![0];
    let mut users = 0u32;
    for (user, history) in set.histories.iter().enumerate() {
        let history = &history[..kept[user]];
        if history.is_empty() {
            continue;
        }
        users += 1;
        let start = baskets.len();
        for &item in history.iter().rev() {
            if seen_by[item as usize] != user as u32 {
                seen_by[item as usize] = user as u32;
                popularity[item as usize] += 1;
                if baskets.len() - start < MAX_ITEMS_PER_USER {
                    baskets.push(item);
                }
            }
        }
        basket_starts.push(baskets.len());
    }

    let mut by_popularity: Vec<u32> = (0..items as u32)
        .filter(|&item| popularity[item as usize] > 0)
        .collect();
    by_popularity.sort_by(|&a, &b| popularity[b as usize].cmp(&popularity[a as usize]));

    let (neighbours, similarities) = match algorithm {
        Algorithm::CoOccurrence => nearest_neighbours(&popularity, &baskets, &basket_starts),
        Algorithm::Popularity => (vec![Vec::new(); items], vec![Vec::new(); items]),
    };

    Model {
        algorithm,
        users,
        items: set.items.clone(),
        popularity,
        by_popularity,
        neighbours,
        similarities,
    }
}

/// Each item's `MAX_NEIGHBOURS` most similar items by cosine similarity over the binary
/// user-item matrix: sim(i, j) = c_ij / sqrt(pop_i · pop_j), with c_ij the users who have both.
///
/// Basket `b` is `baskets[basket_starts[b]..basket_starts[b + 1]]`. For each item the pair
/// counts with every other item are summed in a dense array over items, walking the baskets
/// that hold it; only the items touched are read back and reset, so an item costs the total
/// size of its users' baskets, not the catalog's size.
fn nearest_neighbours(
    popularity: &[u32],
    baskets: &[u32],
    basket_starts: &[usize],
) -> (Vec<Vec<u32>>, Vec<Vec<f32>>) {
    let items = popularity.len();
    let basket = |b: usize| &baskets[basket_starts[b]..basket_starts[b + 1]];

    // The baskets each item is in, as one flat list in item order.
    let mut holder_starts = vec![0usize; items + 1];
    for &item in baskets {
        holder_starts[item as usize + 1] += 1;
    }
    for item in 0..items {
        holder_starts[item + 1] += holder_starts[item];
    }
    let mut holders = vec![0u32; baskets.len()];
    let mut next = holder_starts.clone();
    for b in 0..basket_starts.len() - 1 {
        for &item in basket(b) {
            holders[next[item as usize]] = b as u32;
            next[item as usize] += 1;
        }
    }

    let mut counts = vec![0u32; items];
    let mut touched: Vec<u32> = Vec::new();
    let mut scored: Vec<(u32, f32)> = Vec::new();
    let mut neighbours = Vec::with_capacity(items);
    let mut similarities = Vec::with_capacity(items);
    for item in 0..items {
        for &b in &holders[holder_starts[item]..holder_starts[item + 1]] {
            for &other in basket(b as usize) {
                if counts[other as usize] == 0 {
                    touched.push(other);
                }
                counts[other as usize] += 1;
            }
        }

        scored.clear();
        let pop = f64::from(popularity[item]);
        for &other in &touched {
            let together = std::mem::take(&mut counts[other as usize]);
            if other as usize != item {
                let norm = (pop * f64::from(popularity[other as usize])).sqrt();
                scored.push((other, (f64::from(together) / norm) as f32));
            }
        }
        touched.clear();

        let by_similarity =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > MAX_NEIGHBOURS {
            scored.select_nth_unstable_by(MAX_NEIGHBOURS, by_similarity);
            scored.truncate(MAX_NEIGHBOURS);
        }
        scored.sort_unstable_by(by_similarity);
        neighbours.push(scored.iter().map(|&(other, _)| other).collect());
        similarities.push(scored.iter().map(|&(_, score)| score).collect());
    }
    (neighbours, similarities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPSILON: f64 = 1e-9;

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn interaction(user: &str, item: &str, timestamp: i64) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            timestamp,
        }
    }

    fn assert_close(metrics: &Metrics, name: &str, expected: f64) {
        let got = metrics[name];
        assert!(
            (got - expected).abs() < EPSILON,
            "{name}: got {got}, expected {expected}"
        );
    }

    /// Two clusters that never meet: 10 users of `a0`..`a3` and 20 users of `b0`..`b3`, where
    /// user k has item j when k is a multiple of j + 1. Popularity: b0 20, a0 10, b1 10, b2 7,
    /// a1 5, b3 5, a2 4, a3 3. Plus `solo`, which one user has and nobody else.
    fn clusters() -> TrainingSet {
        let mut interactions = Vec::new();
        let mut clock = 0;
        for (cluster, users) in [("a", 10), ("b", 20)] {
            for k in 0..users {
                for j in 0..4 {
                    if k % (j + 1) == 0 {
                        clock += 1;
                        let user = format!("{cluster}-user-{k}");
                        interactions.push(interaction(&user, &format!("{cluster}{j}"), clock));
                    }
                }
            }
        }
        interactions.push(interaction("loner", "solo", 0));
        TrainingSet::new(interactions, strings(&["never-seen"]))
    }

    /// A set with some structure, for the split and determinism: 300 users with 1 to 40
    /// interactions each over 200 items, items drawn from a user's "taste" window so that
    /// co-occurrence has something to find.
    fn synthetic() -> TrainingSet {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut interactions = Vec::new();
        for user in 0..300 {
            let count = rng.random_range(1..=40);
            let taste = rng.random_range(0..180);
            for _ in 0..count {
                let item = taste + rng.random_range(0..20);
                let timestamp = rng.random_range(0..1_000_000);
                interactions.push(interaction(
                    &format!("user-{user}"),
                    &format!("item-{item:03}"),
                    timestamp,
                ));
            }
        }
        TrainingSet::new(interactions, std::iter::empty())
    }

    #[test]
    fn metrics_match_a_hand_worked_example() {
        let recommended = vec![
            strings(&["a", "b", "c", "d", "e"]),
            strings(&["x", "y", "r1", "z", "w"]),
            strings(&["a", "q"]),
        ];
        let relevant = vec![
            // A hit at rank 1 with one relevant item.
            strings(&["a"]),
            // A hit at rank 3, and r2 missed.
            strings(&["r1", "r2"]),
            // Nothing relevant: skipped, though its list still counts for coverage.
            vec![],
        ];
        let metrics = ranking_metrics(&recommended, &relevant, 20);

        assert_eq!(metrics.len(), 8);
        // Distinct items: a b c d e x y r1 z w q = 11 of 20.
        assert_close(&metrics, "coverage", 0.55);
        // Each of the two users has one hit: 1/5, 1/10 and 1/25, averaged unchanged.
        assert_close(&metrics, "precision_at_5", 0.2);
        assert_close(&metrics, "precision_at_10", 0.1);
        assert_close(&metrics, "precision_at_25", 0.04);
        // (1/1 + 1/3) / 2 = 2/3.
        assert_close(&metrics, "mean_reciprocal_rank_at_25", 2.0 / 3.0);
        // User 1: DCG = 1/log2(2) = 1, IDCG = 1, so 1.
        // User 2: DCG = 1/log2(4) = 0.5, IDCG = 1/log2(2) + 1/log2(3) = 1.6309297535714575,
        // so 0.3065735963827292. No later hits and at most two relevant items, so the same at
        // every cutoff. Mean: (1 + 0.3065735963827292) / 2 = 0.6532867981913646.
        for k in [5, 10, 25] {
            let name = format!("normalized_discounted_cumulative_gain_at_{k}");
            assert_close(&metrics, &name, 0.6532867981913646);
        }
    }

    #[test]
    fn ideal_gain_counts_no_more_relevant_items_than_the_cutoff() {
        let recommended = vec![strings(&["r1", "x", "r2"])];
        let relevant = vec![strings(&["r1", "r2", "r3", "r4", "r5", "r6"])];
        let metrics = ranking_metrics(&recommended, &relevant, 10);

        assert_close(&metrics, "coverage", 0.3);
        assert_close(&metrics, "precision_at_5", 0.4);
        assert_close(&metrics, "precision_at_10", 0.2);
        assert_close(&metrics, "mean_reciprocal_rank_at_25", 1.0);
        // DCG = 1/log2(2) + 1/log2(4) = 1.5 at every cutoff.
        // IDCG@5 sums 5 positions: 1 + 0.6309297535714575 + 0.5 + 0.43067655807339306
        // + 0.38685280723454163 = 2.9484591188793923; 1.5 / that = 0.5087403079104241.
        assert_close(
            &metrics,
            "normalized_discounted_cumulative_gain_at_5",
            0.5087403079104241,
        );
        // IDCG@10 and @25 stop at the 6 relevant items: + 1/log2(7) = 0.3562071871080222,
        // 3.3046663059874146 in all; 1.5 / that = 0.4539036202482202.
        assert_close(
            &metrics,
            "normalized_discounted_cumulative_gain_at_10",
            0.4539036202482202,
        );
        assert_close(
            &metrics,
            "normalized_discounted_cumulative_gain_at_25",
            0.4539036202482202,
        );
    }

    #[test]
    fn metrics_are_zero_with_no_user_to_average_over() {
        let metrics = ranking_metrics(&[strings(&["a"])], &[vec![]], 0);
        assert_eq!(metrics.len(), 8);
        assert!(metrics.values().all(|&value| value == 0.0));
    }

    /// `interactions` in all, of which the first `users_with_two` users have two each and the
    /// rest belong to users with one.
    fn set_with(interactions: usize, users_with_two: usize) -> TrainingSet {
        let mut rows = Vec::new();
        for user in 0..users_with_two {
            rows.push(interaction(&format!("pair-{user}"), "x", 1));
            rows.push(interaction(&format!("pair-{user}"), "y", 2));
        }
        for user in 0..interactions - rows.len() {
            rows.push(interaction(&format!("single-{user}"), "x", 1));
        }
        TrainingSet::new(rows, std::iter::empty())
    }

    #[test]
    fn requirements_fail_below_1000_interactions() {
        assert_eq!(
            check_requirements(&set_with(999, 25)),
            Err(
                "There are not enough interactions: the dataset group has 999 interactions \
                 (after the solution's event type filter); training needs at least 1000."
                    .into()
            )
        );
        assert_eq!(check_requirements(&set_with(1_000, 25)), Ok(()));
    }

    #[test]
    fn requirements_fail_below_25_users_with_two_interactions() {
        assert_eq!(
            check_requirements(&set_with(1_000, 24)),
            Err(
                "There are not enough users with at least 2 interactions: 24 found; training \
                 needs at least 25."
                    .into()
            )
        );
        assert_eq!(check_requirements(&set_with(1_000, 25)), Ok(()));
    }

    #[test]
    fn training_set_counts_users_items_and_keeps_history_in_time_order() {
        let set = TrainingSet::new(
            vec![
                interaction("u", "late", 30),
                interaction("u", "early", 10),
                interaction("u", "tie-first", 20),
                interaction("u", "tie-second", 20),
                interaction("v", "early", 5),
            ],
            strings(&["early", "catalog-only"]),
        );
        assert_eq!(set.interactions(), 5);
        assert_eq!(set.users_with_at_least(2), 1);
        assert_eq!(set.users_with_at_least(1), 2);
        assert_eq!(set.catalog_size(), 5);
        assert_eq!(
            set.history("u"),
            ["early", "tie-first", "tie-second", "late"]
        );
        assert!(set.history("nobody").is_empty());
    }

    #[test]
    fn recommend_ranks_the_same_cluster_first_and_skips_the_history() {
        let model = train(&clusters(), Algorithm::CoOccurrence);
        let list = model.recommend(&["a1"], 5);
        let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();

        // a1's co-occurrences: a0 with 5 users, a3 with 3, a2 with 2; cosine
        // 5/sqrt(5*10) = 0.707, 3/sqrt(5*3) = 0.775, 2/sqrt(5*4) = 0.447.
        assert_eq!(&ids[..3], ["a3", "a0", "a2"]);
        // Then the most popular of the rest, ties by id.
        assert_eq!(&ids[3..], ["b0", "b1"]);
        assert!(list.windows(2).all(|pair| pair[0].1 >= pair[1].1));

        // Over a history of two: a1 scores 0.707 + 0.447 (with a2: 2/sqrt(4*5)), a3 scores
        // 0.548 (3/sqrt(10*3)) + 0.289 (1/sqrt(4*3)). A repeated item counts once, and items
        // nobody interacted with (`never-seen`) are never recommended, so 7 of the 8 asked for.
        let list = model.recommend(&["a0", "a2", "a0"], 8);
        let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a1", "a3", "b0", "b1", "b2", "b3", "solo"]);
    }

    #[test]
    fn popularity_fills_up_when_nothing_co_occurs() {
        let model = train(&clusters(), Algorithm::CoOccurrence);
        let expected = ["b0", "a0", "b1", "b2"];

        let ids = |list: Vec<(String, f64)>| list.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(model.recommend(&["solo"], 4)), expected);
        assert_eq!(ids(model.recommend(&[], 4)), expected);
        assert_eq!(ids(model.recommend(&["unknown-item"], 4)), expected);
        assert_eq!(ids(model.related("never-seen", 4)), expected);
    }

    #[test]
    fn related_lists_neighbours_then_popularity_without_the_item() {
        let model = train(&clusters(), Algorithm::CoOccurrence);
        let ids: Vec<String> = model
            .related("a1", 5)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["a3", "a0", "a2", "b0", "b1"]);
    }

    #[test]
    fn popularity_algorithm_ranks_by_popularity_only() {
        let model = train(&clusters(), Algorithm::Popularity);
        let list = model.recommend(&["b0"], 4);
        let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();

        // a0 and b1 both have 10 users: the id breaks the tie. Cluster a1 shares nothing with
        // b0, yet it comes before b3 (also 5 users) by id.
        assert_eq!(ids, ["a0", "b1", "b2", "a1"]);
        // Shares of the 31 users.
        assert!((list[0].1 - 10.0 / 31.0).abs() < EPSILON);
        assert!((list[2].1 - 7.0 / 31.0).abs() < EPSILON);
        let related: Vec<String> = model
            .related("a1", 3)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(related, ["b0", "a0", "b1"]);
    }

    #[test]
    fn hold_out_takes_a_tenth_of_the_users_and_leaves_each_a_history() {
        let set = synthetic();
        let eligible = set.users_with_at_least(2);
        let split = hold_out(&set, 42);

        assert_eq!(split.test.len(), eligible.div_ceil(10));
        for test in &split.test {
            let user = test.user as usize;
            let history = &set.histories[user];
            let kept = split.kept[user];
            assert!(history.len() >= 2);
            assert!(kept >= 1, "a held-out user keeps at least one interaction");
            assert_eq!(
                history.len() - kept,
                history.len().div_ceil(10).min(history.len() - 1)
            );
            for item in &test.relevant {
                assert!(history[kept..].contains(item));
                assert!(!history[..kept].contains(item));
            }
        }
        let held: usize = (0..set.users.len())
            .filter(|&u| split.kept[u] < set.histories[u].len())
            .count();
        assert_eq!(held, split.test.len());
    }

    #[test]
    fn hold_out_holds_out_the_newest_interactions() {
        let mut rows = Vec::new();
        for user in 0..5 {
            for t in 0..20 {
                // Given out of time order, so the split has to sort.
                rows.push(interaction(
                    &format!("u{user}"),
                    &format!("i{t:02}"),
                    100 - t,
                ));
            }
        }
        let set = TrainingSet::new(rows, std::iter::empty());
        let split = hold_out(&set, 1);

        assert_eq!(split.test.len(), 1);
        let user = split.test[0].user as usize;
        assert_eq!(split.kept[user], 18);
        // Timestamps 100 - t: the newest are t = 0 and t = 1, oldest first.
        let relevant: Vec<&str> = split.test[0]
            .relevant
            .iter()
            .map(|&item| set.items[item as usize].as_str())
            .collect();
        assert_eq!(relevant, ["i01", "i00"]);
    }

    #[test]
    fn one_user_is_held_out_even_when_a_tenth_rounds_to_none() {
        let set = TrainingSet::new(
            vec![interaction("u", "a", 1), interaction("u", "b", 2)],
            std::iter::empty(),
        );
        let split = hold_out(&set, 3);
        assert_eq!(split.test.len(), 1);
        assert_eq!(split.kept, [1]);
    }

    #[test]
    fn the_same_seed_gives_the_same_model_and_metrics() {
        let set = synthetic();
        let first = train_and_evaluate(&set, Algorithm::CoOccurrence, seed_from("v1"));
        let second = train_and_evaluate(&set, Algorithm::CoOccurrence, seed_from("v1"));
        assert_eq!(first.model, second.model);
        assert_eq!(first.metrics, second.metrics);
        assert_eq!(first.test_users, second.test_users);
        assert!(first.test_users > 0);
        assert!(first.metrics["precision_at_25"] > 0.0);
    }

    #[test]
    fn the_input_order_does_not_change_the_model_or_metrics() {
        let set = synthetic();
        let mut rows: Vec<Interaction> = set
            .users
            .iter()
            .flat_map(|user| {
                set.history(user)
                    .into_iter()
                    .enumerate()
                    .map(|(t, item)| interaction(user, item, t as i64))
                    .collect::<Vec<_>>()
            })
            .collect();
        let forward = TrainingSet::new(rows.clone(), std::iter::empty());
        rows.reverse();
        let backward = TrainingSet::new(rows, std::iter::empty());

        let forward = train_and_evaluate(&forward, Algorithm::CoOccurrence, 9);
        let backward = train_and_evaluate(&backward, Algorithm::CoOccurrence, 9);
        assert_eq!(forward.model, backward.model);
        assert_eq!(forward.metrics, backward.metrics);
    }

    #[test]
    fn different_seeds_pick_different_test_users() {
        let set = synthetic();
        let users = |seed| {
            let mut users: Vec<u32> = hold_out(&set, seed).test.iter().map(|t| t.user).collect();
            users.sort_unstable();
            users
        };
        assert_eq!(users(seed_from("arn:a")), users(seed_from("arn:a")));
        assert_ne!(users(seed_from("arn:a")), users(seed_from("arn:b")));
    }

    #[test]
    fn seed_from_is_fnv_1a() {
        // The published FNV-1a test vectors.
        assert_eq!(seed_from(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(seed_from("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(seed_from("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_model_round_trips_through_json() {
        let model = train(&synthetic(), Algorithm::CoOccurrence);
        let json = serde_json::to_string(&model).expect("a model serializes");
        let back: Model = serde_json::from_str(&json).expect("a model deserializes");
        assert_eq!(back, model);
        assert_eq!(back.algorithm(), Algorithm::CoOccurrence);
    }

    #[test]
    fn neighbours_are_capped_per_item() {
        // One user with 150 items: each item co-occurs with 149 others.
        let rows = (0..150)
            .map(|i| interaction("u", &format!("i{i:03}"), i))
            .collect();
        let model = train(
            &TrainingSet::new(rows, std::iter::empty()),
            Algorithm::CoOccurrence,
        );
        assert!(model.neighbours.iter().all(|n| n.len() == MAX_NEIGHBOURS));
        // All similarities are 1, so the ids decide: i001 and on for i000.
        assert_eq!(model.related("i000", 2)[0].0, "i001");
    }
}

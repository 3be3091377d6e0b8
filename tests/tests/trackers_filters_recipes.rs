//! Event trackers, filters and recipes seen through the SDK: a tracker answers a UUID tracking
//! id and a dataset group takes one; a filter's expression starts with INCLUDE or EXCLUDE and a
//! group takes ten; the seven recipes the emulator serves are listed and described with their
//! recipe types. The durations are the endpoint's defaults.

use aws_sdk_personalize::types::{Domain, Filter};
use e2e_tests::{Harness, TestResult};
use local_personalize::{ACTIVE, CREATE_PENDING, DEFAULT_ACCOUNT, Durations};

const EXCLUDE_CLICKED: &str = "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (\"click\")";

/// The recipes the emulator serves and the recipe type of each.
const RECIPES: [(&str, &str); 7] = [
    ("aws-item-affinity", "USER_SEGMENTATION"),
    ("aws-personalized-ranking", "PERSONALIZED_RANKING"),
    ("aws-personalized-ranking-v2", "PERSONALIZED_RANKING"),
    ("aws-popularity-count", "USER_PERSONALIZATION"),
    ("aws-similar-items", "RELATED_ITEMS"),
    ("aws-user-personalization", "USER_PERSONALIZATION"),
    ("aws-user-personalization-v2", "USER_PERSONALIZATION"),
];

fn recipe_arn(name: &str) -> String {
    format!("arn:aws:personalize:::recipe/{name}")
}

/// Whether `id` is a UUID in its usual text form: 8-4-4-4-12 hexadecimal digits.
fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Seconds a resource takes to be deleted with the default durations.
fn delete_seconds() -> u64 {
    let delete = Durations::default().delete;
    (delete.pending_seconds + delete.in_progress_seconds) as u64
}

/// Creates a filter and returns its ARN.
async fn create_filter(h: &Harness, group_arn: &str, name: &str, expression: &str) -> String {
    h.personalize
        .create_filter()
        .name(name)
        .dataset_group_arn(group_arn)
        .filter_expression(expression)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFilter {name}: {e:?}"))
        .filter_arn
        .expect("CreateFilter answers an ARN")
}

/// A filter as DescribeFilter shows it now.
async fn describe_filter(h: &Harness, arn: &str) -> Filter {
    h.personalize
        .describe_filter()
        .filter_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeFilter {arn}: {e:?}"))
        .filter
        .expect("DescribeFilter answers the filter")
}

/// The filter ARNs ListFilters answers for a dataset group.
async fn filters_of(h: &Harness, group_arn: &str) -> Vec<String> {
    h.personalize
        .list_filters()
        .dataset_group_arn(group_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListFilters {group_arn}: {e:?}"))
        .filters()
        .iter()
        .filter_map(|f| f.filter_arn().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_event_tracker_answers_a_uuid_tracking_id_and_is_described_listed_and_deleted()
-> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("shop").await;
    let tracker = Durations::default().event_tracker;

    let created = h
        .personalize
        .create_event_tracker()
        .name("shop-clicks")
        .dataset_group_arn(&group_arn)
        .send()
        .await?;
    let arn = created.event_tracker_arn().expect("an ARN").to_owned();
    let tracking_id = created.tracking_id().expect("a tracking id").to_owned();
    assert!(is_uuid(&tracking_id), "{tracking_id}");

    let described = h
        .personalize
        .describe_event_tracker()
        .event_tracker_arn(&arn)
        .send()
        .await?;
    let t = described.event_tracker().expect("the event tracker");
    assert_eq!(t.name(), Some("shop-clicks"));
    assert_eq!(t.event_tracker_arn(), Some(arn.as_str()));
    assert_eq!(t.account_id(), Some(DEFAULT_ACCOUNT));
    assert_eq!(t.tracking_id(), Some(tracking_id.as_str()));
    assert_eq!(t.dataset_group_arn(), Some(group_arn.as_str()));
    assert_eq!(t.status(), Some(CREATE_PENDING));

    h.advance((tracker.pending_seconds + tracker.in_progress_seconds) as u64);
    let described = h
        .personalize
        .describe_event_tracker()
        .event_tracker_arn(&arn)
        .send()
        .await?;
    assert_eq!(
        described.event_tracker().and_then(|t| t.status()),
        Some(ACTIVE)
    );

    let listed = h
        .personalize
        .list_event_trackers()
        .dataset_group_arn(&group_arn)
        .send()
        .await?;
    assert_eq!(listed.event_trackers().len(), 1, "{listed:?}");
    assert_eq!(
        listed.event_trackers()[0].event_tracker_arn(),
        Some(arn.as_str())
    );

    h.personalize
        .delete_event_tracker()
        .event_tracker_arn(&arn)
        .send()
        .await?;
    h.advance(delete_seconds());
    let err = h
        .personalize
        .describe_event_tracker()
        .event_tracker_arn(&arn)
        .send()
        .await
        .expect_err("the tracker is deleted")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let listed = h
        .personalize
        .list_event_trackers()
        .dataset_group_arn(&group_arn)
        .send()
        .await?;
    assert!(listed.event_trackers().is_empty(), "{listed:?}");
    h.stop().await
}

#[tokio::test]
async fn a_second_event_tracker_in_one_dataset_group_is_limit_exceeded() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("shop").await;
    let other_group = h.active_dataset_group("books").await;
    h.personalize
        .create_event_tracker()
        .name("shop-clicks")
        .dataset_group_arn(&group_arn)
        .send()
        .await?;

    let err = h
        .personalize
        .create_event_tracker()
        .name("shop-views")
        .dataset_group_arn(&group_arn)
        .send()
        .await
        .expect_err("one tracker per dataset group")
        .into_service_error();
    assert!(err.is_limit_exceeded_exception(), "{err:?}");

    // Another group takes its own tracker.
    h.personalize
        .create_event_tracker()
        .name("books-clicks")
        .dataset_group_arn(&other_group)
        .send()
        .await?;
    let all = h.personalize.list_event_trackers().send().await?;
    assert_eq!(all.event_trackers().len(), 2, "{all:?}");
    h.stop().await
}

#[tokio::test]
async fn an_event_tracker_needs_an_active_dataset_group() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h
        .personalize
        .create_dataset_group()
        .name("shop")
        .send()
        .await?
        .dataset_group_arn
        .expect("an ARN");

    let err = h
        .personalize
        .create_event_tracker()
        .name("shop-clicks")
        .dataset_group_arn(&group_arn)
        .send()
        .await
        .expect_err("the group is still being created")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn an_exclude_filter_becomes_active_and_is_described_listed_and_deleted() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("shop").await;
    let other_group = h.active_dataset_group("books").await;
    let filter = Durations::default().filter;

    let arn = create_filter(&h, &group_arn, "not-clicked", EXCLUDE_CLICKED).await;

    let f = describe_filter(&h, &arn).await;
    assert_eq!(f.status(), Some(CREATE_PENDING));
    assert_eq!(f.name(), Some("not-clicked"));
    assert_eq!(f.filter_arn(), Some(arn.as_str()));
    assert_eq!(f.dataset_group_arn(), Some(group_arn.as_str()));
    assert_eq!(f.filter_expression(), Some(EXCLUDE_CLICKED));
    h.advance((filter.pending_seconds + filter.in_progress_seconds) as u64);
    assert_eq!(describe_filter(&h, &arn).await.status(), Some(ACTIVE));

    assert_eq!(filters_of(&h, &group_arn).await, std::slice::from_ref(&arn));
    assert!(filters_of(&h, &other_group).await.is_empty());

    h.personalize
        .delete_filter()
        .filter_arn(&arn)
        .send()
        .await?;
    h.advance(delete_seconds());
    let err = h
        .personalize
        .describe_filter()
        .filter_arn(&arn)
        .send()
        .await
        .expect_err("the filter is deleted")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(filters_of(&h, &group_arn).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_filter_expression_not_starting_with_include_or_exclude_is_invalid_input() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("shop").await;

    for expression in [
        "ItemID WHERE Interactions.EVENT_TYPE IN (\"click\")",
        "REMOVE ItemID WHERE Interactions.EVENT_TYPE IN (\"click\")",
    ] {
        let err = h
            .personalize
            .create_filter()
            .name("odd")
            .dataset_group_arn(&group_arn)
            .filter_expression(expression)
            .send()
            .await
            .expect_err("INCLUDE or EXCLUDE first")
            .into_service_error();
        assert!(err.is_invalid_input_exception(), "{expression}: {err:?}");
    }

    assert!(filters_of(&h, &group_arn).await.is_empty());
    h.stop().await
}

#[tokio::test]
async fn an_eleventh_filter_in_one_dataset_group_is_limit_exceeded() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("shop").await;

    for n in 1..=10 {
        create_filter(&h, &group_arn, &format!("filter-{n}"), EXCLUDE_CLICKED).await;
    }
    let err = h
        .personalize
        .create_filter()
        .name("filter-11")
        .dataset_group_arn(&group_arn)
        .filter_expression(EXCLUDE_CLICKED)
        .send()
        .await
        .expect_err("ten filters per dataset group")
        .into_service_error();

    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    assert_eq!(filters_of(&h, &group_arn).await.len(), 10);
    h.stop().await
}

#[tokio::test]
async fn list_recipes_has_the_seven_recipes_each_described_with_its_recipe_type() -> TestResult {
    let h = Harness::start().await;

    let listed = h.personalize.list_recipes().send().await?;
    let mut arns: Vec<&str> = listed
        .recipes()
        .iter()
        .filter_map(|r| r.recipe_arn())
        .collect();
    arns.sort_unstable();
    let expected: Vec<String> = RECIPES.iter().map(|(name, _)| recipe_arn(name)).collect();
    assert_eq!(arns, expected);

    for (name, recipe_type) in RECIPES {
        let described = h
            .personalize
            .describe_recipe()
            .recipe_arn(recipe_arn(name))
            .send()
            .await?;
        let recipe = described.recipe().expect("the recipe");
        assert_eq!(recipe.name(), Some(name));
        assert_eq!(recipe.recipe_arn(), Some(recipe_arn(name).as_str()));
        assert_eq!(recipe.recipe_type(), Some(recipe_type), "{name}");
    }
    h.stop().await
}

#[tokio::test]
async fn describe_recipe_of_user_personalization_is_of_type_user_personalization() -> TestResult {
    let h = Harness::start().await;

    let described = h
        .personalize
        .describe_recipe()
        .recipe_arn(recipe_arn("aws-user-personalization"))
        .send()
        .await?;

    assert_eq!(
        described.recipe().and_then(|r| r.recipe_type()),
        Some("USER_PERSONALIZATION")
    );
    h.stop().await
}

#[tokio::test]
async fn describe_recipe_of_an_unknown_recipe_is_resource_not_found() -> TestResult {
    let h = Harness::start().await;

    let err = h
        .personalize
        .describe_recipe()
        .recipe_arn(recipe_arn("aws-hrnn"))
        .send()
        .await
        .expect_err("not a recipe the emulator serves")
        .into_service_error();

    assert!(err.is_resource_not_found_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn list_recipes_of_a_domain_is_empty() -> TestResult {
    let h = Harness::start().await;

    let listed = h
        .personalize
        .list_recipes()
        .domain(Domain::Ecommerce)
        .send()
        .await?;

    assert!(listed.recipes().is_empty(), "{listed:?}");
    h.stop().await
}

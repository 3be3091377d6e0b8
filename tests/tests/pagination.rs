//! List pagination through the SDK: `maxResults` caps a page, `nextToken` leads to the next one,
//! the last page has no token, and every resource is listed exactly once, whether the caller
//! follows tokens by hand or lets the SDK's paginator do it.

use std::collections::BTreeSet;

use e2e_tests::{Harness, INTERACTIONS_SCHEMA, TestResult};

const SCHEMAS: usize = 7;
const PAGE: i32 = 3;

/// Creates schemas `schema-1` to `schema-7` and returns their ARNs.
async fn seven_schemas(h: &Harness) -> BTreeSet<String> {
    let mut arns = BTreeSet::new();
    for n in 1..=SCHEMAS {
        arns.insert(h.schema(&format!("schema-{n}"), INTERACTIONS_SCHEMA).await);
    }
    arns
}

#[tokio::test]
async fn following_next_token_by_hand_lists_every_schema_exactly_once() -> TestResult {
    let h = Harness::start().await;
    let created = seven_schemas(&h).await;

    let mut listed = Vec::new();
    let mut page_sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = h
            .personalize
            .list_schemas()
            .max_results(PAGE)
            .set_next_token(token.take())
            .send()
            .await?;
        page_sizes.push(page.schemas().len());
        listed.extend(
            page.schemas()
                .iter()
                .map(|s| s.schema_arn().expect("an ARN").to_owned()),
        );
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }

    assert_eq!(page_sizes, [3, 3, 1]);
    assert_eq!(listed.len(), SCHEMAS, "no schema listed twice: {listed:?}");
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), created);
    h.stop().await
}

#[tokio::test]
async fn the_sdk_paginator_lists_every_schema_exactly_once() -> TestResult {
    let h = Harness::start().await;
    let created = seven_schemas(&h).await;

    let pages: Vec<_> = h
        .personalize
        .list_schemas()
        .max_results(PAGE)
        .into_paginator()
        .send()
        .try_collect()
        .await?;
    let items: Vec<_> = h
        .personalize
        .list_schemas()
        .max_results(PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await?;

    assert_eq!(pages.len(), 3);
    assert!(pages.last().is_some_and(|p| p.next_token().is_none()));
    let arns: Vec<String> = items
        .iter()
        .map(|s| s.schema_arn().expect("an ARN").to_owned())
        .collect();
    assert_eq!(arns.len(), SCHEMAS, "no schema listed twice: {arns:?}");
    assert_eq!(arns.into_iter().collect::<BTreeSet<_>>(), created);
    h.stop().await
}

#[tokio::test]
async fn a_page_exactly_as_long_as_what_is_left_ends_the_list() -> TestResult {
    let h = Harness::start().await;
    for name in ["a", "b", "c"] {
        h.personalize
            .create_dataset_group()
            .name(name)
            .send()
            .await?;
    }

    let page = h
        .personalize
        .list_dataset_groups()
        .max_results(3)
        .send()
        .await?;

    assert_eq!(page.dataset_groups().len(), 3);
    assert!(page.next_token().is_none(), "no empty page to follow");
    h.stop().await
}

//! Every Personalize operation the local endpoint serves, called through the official
//! `aws-sdk-personalize` client: what each Create answers, what Describe and List show of the
//! resource, and that Delete removes it. Tags are here too, given at creation and changed after.

use aws_sdk_personalize::types::{ImportMode, Tag};
use e2e_tests::{
    Harness, INTERACTIONS_1000, INTERACTIONS_SCHEMA, START_EPOCH_SECONDS, TestResult, epoch_seconds,
};
use local_personalize::{ACTIVE, CREATE_PENDING, DEFAULT_ACCOUNT as ACCOUNT, DELETE_PENDING};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .expect("a tag has a key and a value")
}

/// The tags of a resource as (key, value) pairs, sorted by key.
async fn tags_of(h: &Harness, arn: &str) -> Result<Vec<(String, String)>, e2e_tests::Error> {
    let out = h
        .personalize
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await?;
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect();
    tags.sort();
    Ok(tags)
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_dataset_group_is_created_described_listed_and_deleted() -> TestResult {
    let h = Harness::start().await;

    // WHEN a dataset group is created
    let created = h
        .personalize
        .create_dataset_group()
        .name("movies")
        .send()
        .await?;

    // THEN its ARN follows the service's form, and Describe shows it with its status and times
    let arn = created.dataset_group_arn().expect("an ARN");
    assert_eq!(
        arn,
        format!("arn:aws:personalize:us-east-1:{ACCOUNT}:dataset-group/movies")
    );
    let described = h
        .personalize
        .describe_dataset_group()
        .dataset_group_arn(arn)
        .send()
        .await?;
    let group = described.dataset_group().expect("the dataset group");
    assert_eq!(group.name(), Some("movies"));
    assert_eq!(group.dataset_group_arn(), Some(arn));
    assert_eq!(group.status(), Some(CREATE_PENDING));
    let created_at = epoch_seconds(group.creation_date_time().expect("a creation time"));
    assert_eq!(created_at, START_EPOCH_SECONDS as f64);
    assert!(group.failure_reason().is_none());

    // AND List shows a summary of it
    let listed = h.personalize.list_dataset_groups().send().await?;
    let summaries = listed.dataset_groups();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].name(), Some("movies"));
    assert_eq!(summaries[0].dataset_group_arn(), Some(arn));
    assert_eq!(summaries[0].status(), Some(CREATE_PENDING));
    assert!(listed.next_token().is_none());

    // WHEN it is ACTIVE and deleted
    h.wait_for_dataset_group(arn).await;
    h.personalize
        .delete_dataset_group()
        .dataset_group_arn(arn)
        .send()
        .await?;

    // THEN it is being deleted, and once the deletion is over it is gone from Describe and List
    assert_eq!(h.dataset_group_status(arn).await, DELETE_PENDING);
    h.wait_until_dataset_group_is_gone(arn).await;
    let listed = h.personalize.list_dataset_groups().send().await?;
    assert!(listed.dataset_groups().is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_schema_is_created_described_listed_and_deleted() -> TestResult {
    let h = Harness::start().await;

    let arn = h
        .personalize
        .create_schema()
        .name("interactions")
        .schema(INTERACTIONS_SCHEMA)
        .send()
        .await?
        .schema_arn
        .expect("an ARN");
    assert_eq!(
        arn,
        format!("arn:aws:personalize:us-east-1:{ACCOUNT}:schema/interactions")
    );

    // A schema has no lifecycle: it is usable at once and Describe answers its Avro text.
    let described = h
        .personalize
        .describe_schema()
        .schema_arn(&arn)
        .send()
        .await?;
    let schema = described.schema().expect("the schema");
    assert_eq!(schema.name(), Some("interactions"));
    assert_eq!(schema.schema_arn(), Some(arn.as_str()));
    assert_eq!(schema.schema(), Some(INTERACTIONS_SCHEMA));
    assert_eq!(
        schema.creation_date_time().map(epoch_seconds),
        Some(START_EPOCH_SECONDS as f64)
    );

    let listed = h.personalize.list_schemas().send().await?;
    let names: Vec<_> = listed.schemas().iter().filter_map(|s| s.name()).collect();
    assert_eq!(names, ["interactions"]);

    // Deleting a schema no dataset uses takes effect at once.
    h.personalize
        .delete_schema()
        .schema_arn(&arn)
        .send()
        .await?;
    let err = h
        .personalize
        .describe_schema()
        .schema_arn(&arn)
        .send()
        .await
        .expect_err("a deleted schema is gone")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(
        h.personalize
            .list_schemas()
            .send()
            .await?
            .schemas()
            .is_empty()
    );
    h.stop().await
}

#[tokio::test]
async fn a_dataset_is_created_described_listed_and_deleted() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("movies").await;
    let schema_arn = h.schema("movies-interactions", INTERACTIONS_SCHEMA).await;

    let arn = h
        .personalize
        .create_dataset()
        .name("movies-interactions")
        .dataset_group_arn(&group_arn)
        .dataset_type("INTERACTIONS")
        .schema_arn(&schema_arn)
        .send()
        .await?
        .dataset_arn
        .expect("an ARN");

    // A dataset's ARN is its group's name and its type.
    assert_eq!(
        arn,
        format!("arn:aws:personalize:us-east-1:{ACCOUNT}:dataset/movies/INTERACTIONS")
    );
    let described = h
        .personalize
        .describe_dataset()
        .dataset_arn(&arn)
        .send()
        .await?;
    let dataset = described.dataset().expect("the dataset");
    assert_eq!(dataset.name(), Some("movies-interactions"));
    assert_eq!(dataset.dataset_arn(), Some(arn.as_str()));
    assert_eq!(dataset.dataset_group_arn(), Some(group_arn.as_str()));
    assert_eq!(dataset.dataset_type(), Some("INTERACTIONS"));
    assert_eq!(dataset.schema_arn(), Some(schema_arn.as_str()));
    assert_eq!(dataset.status(), Some(CREATE_PENDING));

    // ListDatasets filters by dataset group.
    let listed = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&group_arn)
        .send()
        .await?;
    let summaries = listed.datasets();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].dataset_arn(), Some(arn.as_str()));
    assert_eq!(summaries[0].dataset_type(), Some("INTERACTIONS"));
    let other_group = h.active_dataset_group("books").await;
    let listed = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&other_group)
        .send()
        .await?;
    assert!(listed.datasets().is_empty());

    h.wait_for_dataset(&arn).await;
    h.personalize
        .delete_dataset()
        .dataset_arn(&arn)
        .send()
        .await?;
    assert_eq!(h.dataset_status(&arn).await, DELETE_PENDING);
    h.wait_until_dataset_is_gone(&arn).await;
    let listed = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&group_arn)
        .send()
        .await?;
    assert!(listed.datasets().is_empty());
    h.stop().await
}

#[tokio::test]
async fn an_import_job_is_created_described_and_listed() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    let bucket = h.bucket().await;
    let uri = h
        .upload(bucket, "interactions.csv", INTERACTIONS_1000)
        .await;

    let arn = h
        .personalize
        .create_dataset_import_job()
        .job_name("movies-import-1")
        .dataset_arn(&setup.dataset_arn)
        .data_source(
            aws_sdk_personalize::types::DataSource::builder()
                .data_location(&uri)
                .build(),
        )
        .role_arn("arn:aws:iam::000000000000:role/personalize-import")
        .import_mode(ImportMode::Full)
        .send()
        .await?
        .dataset_import_job_arn
        .expect("an ARN");
    assert_eq!(
        arn,
        format!("arn:aws:personalize:us-east-1:{ACCOUNT}:dataset-import-job/movies-import-1")
    );

    let job = h.import_job(&arn).await;
    assert_eq!(job.job_name(), Some("movies-import-1"));
    assert_eq!(job.dataset_import_job_arn(), Some(arn.as_str()));
    assert_eq!(job.dataset_arn(), Some(setup.dataset_arn.as_str()));
    assert_eq!(
        job.data_source().and_then(|s| s.data_location()),
        Some(uri.as_str())
    );
    assert_eq!(
        job.role_arn(),
        Some("arn:aws:iam::000000000000:role/personalize-import")
    );
    assert_eq!(job.import_mode(), Some(&ImportMode::Full));
    assert_eq!(job.status(), Some(CREATE_PENDING));

    let job = h.wait_for_import(&arn).await;
    assert_eq!(job.status(), Some(ACTIVE));
    assert!(job.failure_reason().is_none());

    // ListDatasetImportJobs filters by dataset, and lists every job of the region without one.
    let listed = h
        .personalize
        .list_dataset_import_jobs()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    let summaries = listed.dataset_import_jobs();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].job_name(), Some("movies-import-1"));
    assert_eq!(summaries[0].dataset_import_job_arn(), Some(arn.as_str()));
    assert_eq!(summaries[0].status(), Some(ACTIVE));
    assert_eq!(summaries[0].import_mode(), Some(&ImportMode::Full));
    let all = h.personalize.list_dataset_import_jobs().send().await?;
    assert_eq!(all.dataset_import_jobs().len(), 1);
    h.stop().await
}

#[tokio::test]
async fn tags_given_at_creation_are_listed_and_can_be_added_changed_and_removed() -> TestResult {
    let h = Harness::start().await;

    // GIVEN a dataset group created with two tags
    let arn = h
        .personalize
        .create_dataset_group()
        .name("tagged")
        .tags(tag("team", "recs"))
        .tags(tag("stage", "dev"))
        .send()
        .await?
        .dataset_group_arn
        .expect("an ARN");
    assert_eq!(
        tags_of(&h, &arn).await?,
        pairs(&[("stage", "dev"), ("team", "recs")])
    );

    // WHEN a tag is added and another one's value changed
    h.personalize
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("cost-center", "42"))
        .tags(tag("stage", "prod"))
        .send()
        .await?;

    // THEN the resource carries all three, with the new value
    assert_eq!(
        tags_of(&h, &arn).await?,
        pairs(&[("cost-center", "42"), ("stage", "prod"), ("team", "recs")])
    );

    // WHEN two are removed, one of which it never had
    h.personalize
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .tag_keys("never-set")
        .send()
        .await?;

    // THEN the others stay
    assert_eq!(
        tags_of(&h, &arn).await?,
        pairs(&[("cost-center", "42"), ("stage", "prod")])
    );

    // AND datasets and import jobs take tags at creation too
    h.wait_for_dataset_group(&arn).await;
    let schema_arn = h.schema("tagged-interactions", INTERACTIONS_SCHEMA).await;
    let dataset_arn = h
        .personalize
        .create_dataset()
        .name("tagged-interactions")
        .dataset_group_arn(&arn)
        .dataset_type("INTERACTIONS")
        .schema_arn(&schema_arn)
        .tags(tag("kind", "interactions"))
        .send()
        .await?
        .dataset_arn
        .expect("an ARN");
    assert_eq!(
        tags_of(&h, &dataset_arn).await?,
        pairs(&[("kind", "interactions")])
    );
    h.wait_for_dataset(&dataset_arn).await;
    let bucket = h.bucket().await;
    let uri = h.upload(bucket, "i.csv", INTERACTIONS_1000).await;
    let job_arn = h
        .personalize
        .create_dataset_import_job()
        .job_name("tagged-import")
        .dataset_arn(&dataset_arn)
        .data_source(
            aws_sdk_personalize::types::DataSource::builder()
                .data_location(uri)
                .build(),
        )
        .tags(tag("run", "1"))
        .send()
        .await?
        .dataset_import_job_arn
        .expect("an ARN");
    assert_eq!(tags_of(&h, &job_arn).await?, pairs(&[("run", "1")]));
    h.stop().await
}

//! The errors the endpoint answers, as the typed errors of the official SDK: a taken name is
//! ResourceAlreadyExistsException, an unknown ARN ResourceNotFoundException, a malformed ARN or
//! name InvalidInputException, a busy resource ResourceInUseException, and a forged list token
//! InvalidNextTokenException. The import job quota and import job names are in
//! `import_failures.rs`, next to the other ways an import can be refused.

use aws_sdk_personalize::error::ProvideErrorMetadata;
use e2e_tests::{Harness, INTERACTIONS_SCHEMA, ITEMS_SCHEMA, TestResult};

const UNKNOWN_GROUP: &str = "arn:aws:personalize:us-east-1:000000000000:dataset-group/nobody";

#[tokio::test]
async fn a_taken_dataset_group_name_is_resource_already_exists() -> TestResult {
    let h = Harness::start().await;
    h.active_dataset_group("movies").await;

    let err = h
        .personalize
        .create_dataset_group()
        .name("movies")
        .send()
        .await
        .expect_err("the name is taken")
        .into_service_error();

    assert!(err.is_resource_already_exists_exception(), "{err:?}");
    assert!(
        err.message().unwrap_or_default().contains("movies"),
        "{err:?}"
    );
    h.stop().await
}

#[tokio::test]
async fn a_taken_schema_name_is_resource_already_exists() -> TestResult {
    let h = Harness::start().await;
    h.schema("interactions", INTERACTIONS_SCHEMA).await;

    let err = h
        .personalize
        .create_schema()
        .name("interactions")
        .schema(ITEMS_SCHEMA)
        .send()
        .await
        .expect_err("the name is taken")
        .into_service_error();

    assert!(err.is_resource_already_exists_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn a_second_interactions_dataset_in_one_group_is_resource_already_exists() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;

    let err = h
        .personalize
        .create_dataset()
        .name("movies-interactions-again")
        .dataset_group_arn(&setup.group_arn)
        .dataset_type("INTERACTIONS")
        .schema_arn(&setup.schema_arn)
        .send()
        .await
        .expect_err("a group has one dataset of each type")
        .into_service_error();

    assert!(err.is_resource_already_exists_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains(&setup.dataset_arn),
        "{err:?}"
    );

    // A dataset of another type is welcome in the same group.
    let items_schema = h.schema("movies-items", ITEMS_SCHEMA).await;
    h.active_dataset(&setup.group_arn, "movies-items", "ITEMS", &items_schema)
        .await;
    h.stop().await
}

#[tokio::test]
async fn a_schema_name_stays_taken_after_its_dataset_group_is_deleted() -> TestResult {
    let h = Harness::start().await;

    // GIVEN a dataset group whose dataset used the schema, all deleted
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;
    h.personalize
        .delete_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    h.wait_until_dataset_is_gone(&setup.dataset_arn).await;
    h.personalize
        .delete_dataset_group()
        .dataset_group_arn(&setup.group_arn)
        .send()
        .await?;
    h.wait_until_dataset_group_is_gone(&setup.group_arn).await;

    // WHEN a schema of the same name is created again
    let err = h
        .personalize
        .create_schema()
        .name("movies-interactions")
        .schema(INTERACTIONS_SCHEMA)
        .send()
        .await
        .expect_err("schemas belong to the account, not to a dataset group")
        .into_service_error();

    // THEN the name is still taken, and the schema is still there to describe
    assert!(err.is_resource_already_exists_exception(), "{err:?}");
    h.personalize
        .describe_schema()
        .schema_arn(&setup.schema_arn)
        .send()
        .await?;

    // AND the group's name is free again
    h.active_dataset_group("movies").await;
    h.stop().await
}

#[tokio::test]
async fn unknown_arns_are_resource_not_found() -> TestResult {
    let h = Harness::start().await;
    let prefix = "arn:aws:personalize:us-east-1:000000000000";

    let err = h
        .personalize
        .describe_dataset_group()
        .dataset_group_arn(UNKNOWN_GROUP)
        .send()
        .await
        .expect_err("no such dataset group")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(err.message().unwrap_or_default().contains(UNKNOWN_GROUP));

    let err = h
        .personalize
        .delete_dataset_group()
        .dataset_group_arn(UNKNOWN_GROUP)
        .send()
        .await
        .expect_err("no such dataset group")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = h
        .personalize
        .describe_schema()
        .schema_arn(format!("{prefix}:schema/nothing"))
        .send()
        .await
        .expect_err("no such schema")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = h
        .personalize
        .describe_dataset()
        .dataset_arn(format!("{prefix}:dataset/nobody/INTERACTIONS"))
        .send()
        .await
        .expect_err("no such dataset")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = h
        .personalize
        .describe_dataset_import_job()
        .dataset_import_job_arn(format!("{prefix}:dataset-import-job/never-ran"))
        .send()
        .await
        .expect_err("no such import job")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = h
        .personalize
        .list_tags_for_resource()
        .resource_arn(UNKNOWN_GROUP)
        .send()
        .await
        .expect_err("no such resource")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // A dataset in a group that does not exist cannot be created.
    let schema_arn = h.schema("interactions", INTERACTIONS_SCHEMA).await;
    let err = h
        .personalize
        .create_dataset()
        .name("orphan")
        .dataset_group_arn(UNKNOWN_GROUP)
        .dataset_type("INTERACTIONS")
        .schema_arn(schema_arn)
        .send()
        .await
        .expect_err("no such dataset group")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn malformed_arns_are_invalid_input() -> TestResult {
    let h = Harness::start().await;
    let schema_arn = h.schema("interactions", INTERACTIONS_SCHEMA).await;

    // Not an ARN at all: refused by the service model's pattern.
    let err = h
        .personalize
        .describe_dataset_group()
        .dataset_group_arn("not-an-arn")
        .send()
        .await
        .expect_err("not an ARN")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("datasetGroupArn"),
        "{err:?}"
    );

    // An ARN of another service.
    let err = h
        .personalize
        .describe_dataset()
        .dataset_arn("arn:aws:s3:::training-data")
        .send()
        .await
        .expect_err("an S3 ARN")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");

    // A Personalize ARN of the wrong kind of resource: a schema where a group belongs.
    let err = h
        .personalize
        .describe_dataset_group()
        .dataset_group_arn(&schema_arn)
        .send()
        .await
        .expect_err("a schema ARN is not a dataset group ARN")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(
        err.message().unwrap_or_default().contains(&schema_arn),
        "{err:?}"
    );

    let err = h
        .personalize
        .tag_resource()
        .resource_arn("arn:aws:personalize:us-east-1:000000000000")
        .tags(
            aws_sdk_personalize::types::Tag::builder()
                .tag_key("k")
                .tag_value("v")
                .build()?,
        )
        .send()
        .await
        .expect_err("an ARN with no resource")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn names_longer_than_63_characters_or_with_bad_characters_are_invalid_input() -> TestResult {
    let h = Harness::start().await;

    let too_long = "a".repeat(64);
    for bad in [
        too_long.as_str(),
        "has space",
        "-starts-with-a-dash",
        "dotted.name",
        "slash/name",
        "",
    ] {
        let err = h
            .personalize
            .create_dataset_group()
            .name(bad)
            .send()
            .await
            .expect_err("a bad name")
            .into_service_error();
        assert!(err.is_invalid_input_exception(), "name {bad:?}: {err:?}");
    }
    let err = h
        .personalize
        .create_schema()
        .name(&too_long)
        .schema(INTERACTIONS_SCHEMA)
        .send()
        .await
        .expect_err("a name too long")
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("less than or equal to 63"),
        "{err:?}"
    );

    // The longest name allowed, and every kind of character allowed, are accepted.
    h.active_dataset_group(&"a".repeat(63)).await;
    h.active_dataset_group("Movies_2026-v2").await;
    assert!(
        h.personalize
            .list_dataset_groups()
            .send()
            .await?
            .dataset_groups()
            .len()
            == 2,
        "no refused name left a dataset group behind"
    );
    h.stop().await
}

#[tokio::test]
async fn an_interactions_dataset_needs_a_schema_with_user_id() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("movies").await;
    let schema_arn = h
        .schema(
            "no-user-id",
            include_str!("../fixtures/interactions-without-user-id.schema.json"),
        )
        .await;

    let err = h
        .personalize
        .create_dataset()
        .name("movies-interactions")
        .dataset_group_arn(&group_arn)
        .dataset_type("INTERACTIONS")
        .schema_arn(&schema_arn)
        .send()
        .await
        .expect_err("INTERACTIONS needs USER_ID")
        .into_service_error();

    assert!(err.is_invalid_input_exception(), "{err:?}");
    assert!(
        err.message().unwrap_or_default().contains("USER_ID"),
        "{err:?}"
    );
    let datasets = h
        .personalize
        .list_datasets()
        .dataset_group_arn(&group_arn)
        .send()
        .await?;
    assert!(datasets.datasets().is_empty());
    h.stop().await
}

#[tokio::test]
async fn a_schema_that_is_not_valid_avro_is_invalid_input() -> TestResult {
    let h = Harness::start().await;

    let err = h
        .personalize
        .create_schema()
        .name("broken")
        .schema(r#"{"type": "record", "name": "X", "fields": "#)
        .send()
        .await
        .expect_err("not Avro")
        .into_service_error();

    assert!(err.is_invalid_input_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn deleting_a_dataset_group_that_still_has_datasets_is_resource_in_use() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;

    let err = h
        .personalize
        .delete_dataset_group()
        .dataset_group_arn(&setup.group_arn)
        .send()
        .await
        .expect_err("the group has a dataset")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains(&setup.dataset_arn),
        "the message names what is left: {err:?}"
    );
    assert_eq!(
        h.dataset_group_status(&setup.group_arn).await,
        local_personalize::ACTIVE
    );
    h.stop().await
}

#[tokio::test]
async fn deleting_a_dataset_group_twice_is_resource_in_use() -> TestResult {
    let h = Harness::start().await;
    let arn = h.active_dataset_group("movies").await;
    h.personalize
        .delete_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await?;

    let err = h
        .personalize
        .delete_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await
        .expect_err("it is already being deleted")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");

    // Once the first deletion is over, a third one finds nothing to delete.
    h.wait_until_dataset_group_is_gone(&arn).await;
    let err = h
        .personalize
        .delete_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await
        .expect_err("it is gone")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn deleting_a_dataset_group_still_being_created_is_resource_in_use() -> TestResult {
    let h = Harness::start().await;
    let arn = h
        .personalize
        .create_dataset_group()
        .name("movies")
        .send()
        .await?
        .dataset_group_arn
        .expect("an ARN");

    let err = h
        .personalize
        .delete_dataset_group()
        .dataset_group_arn(&arn)
        .send()
        .await
        .expect_err("it is CREATE PENDING")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn a_dataset_cannot_be_added_before_its_group_is_active() -> TestResult {
    let h = Harness::start().await;
    let group_arn = h
        .personalize
        .create_dataset_group()
        .name("movies")
        .send()
        .await?
        .dataset_group_arn
        .expect("an ARN");
    let schema_arn = h.schema("movies-interactions", INTERACTIONS_SCHEMA).await;

    let err = h
        .personalize
        .create_dataset()
        .name("movies-interactions")
        .dataset_group_arn(&group_arn)
        .dataset_type("INTERACTIONS")
        .schema_arn(&schema_arn)
        .send()
        .await
        .expect_err("the group is CREATE PENDING")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn deleting_a_schema_a_dataset_uses_is_resource_in_use() -> TestResult {
    let h = Harness::start().await;
    let setup = h
        .dataset("movies", "INTERACTIONS", INTERACTIONS_SCHEMA)
        .await;

    let err = h
        .personalize
        .delete_schema()
        .schema_arn(&setup.schema_arn)
        .send()
        .await
        .expect_err("the dataset uses it")
        .into_service_error();

    assert!(err.is_resource_in_use_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains(&setup.dataset_arn),
        "{err:?}"
    );

    // Once the dataset is gone the schema can go too.
    h.personalize
        .delete_dataset()
        .dataset_arn(&setup.dataset_arn)
        .send()
        .await?;
    h.wait_until_dataset_is_gone(&setup.dataset_arn).await;
    h.personalize
        .delete_schema()
        .schema_arn(&setup.schema_arn)
        .send()
        .await?;
    h.stop().await
}

#[tokio::test]
async fn a_forged_next_token_is_invalid_next_token() -> TestResult {
    let h = Harness::start().await;
    for name in ["a", "b", "c"] {
        h.schema(name, INTERACTIONS_SCHEMA).await;
        h.personalize
            .create_dataset_group()
            .name(name)
            .send()
            .await?;
    }

    for forged in ["zz", "abc", "not a token at all"] {
        let err = h
            .personalize
            .list_schemas()
            .next_token(forged)
            .send()
            .await
            .expect_err("a token no list handed out")
            .into_service_error();
        assert!(err.is_invalid_next_token_exception(), "{forged}: {err:?}");
    }

    // A token handed out by another list does not work here either.
    let groups_token = h
        .personalize
        .list_dataset_groups()
        .max_results(1)
        .send()
        .await?
        .next_token
        .expect("more dataset groups to come");
    let err = h
        .personalize
        .list_schemas()
        .next_token(groups_token)
        .send()
        .await
        .expect_err("a dataset group token is not a schema token")
        .into_service_error();
    assert!(err.is_invalid_next_token_exception(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn a_resource_of_another_region_is_not_found_and_cannot_be_built_on() -> TestResult {
    // GIVEN a dataset group and a schema in us-east-1
    let h = Harness::start().await;
    let group_arn = h.active_dataset_group("movies").await;
    let schema_arn = h.schema("interactions", INTERACTIONS_SCHEMA).await;
    let eu_config = h
        .personalize
        .config()
        .to_builder()
        .region(aws_sdk_personalize::config::Region::new("eu-west-1"))
        .build();
    let eu = aws_sdk_personalize::Client::from_conf(eu_config);

    // WHEN a client signing for eu-west-1 describes the group and builds a dataset on it
    let described = eu
        .describe_dataset_group()
        .dataset_group_arn(&group_arn)
        .send()
        .await
        .expect_err("another region's group is not visible")
        .into_service_error();
    let created = eu
        .create_dataset()
        .name("cross")
        .dataset_type("INTERACTIONS")
        .dataset_group_arn(&group_arn)
        .schema_arn(&schema_arn)
        .send()
        .await
        .expect_err("another region's group cannot hold a dataset")
        .into_service_error();

    // THEN both are not found, and eu-west-1 has its own names and ARNs
    assert!(described.is_resource_not_found_exception(), "{described:?}");
    assert!(created.is_resource_not_found_exception(), "{created:?}");
    let eu_group = eu
        .create_dataset_group()
        .name("movies")
        .send()
        .await?
        .dataset_group_arn()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        eu_group,
        "arn:aws:personalize:eu-west-1:000000000000:dataset-group/movies"
    );
    h.stop().await
}

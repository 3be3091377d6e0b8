//! Event trackers and filters: resources of a dataset group that the pipeline creates and
//! reports, with their lifecycles and quotas.

use serde_json::{Value, json};

use super::{
    arn, check_name_free, counts_toward_quota, expect, insert_with_tags, new_resource, read_tags,
    require_active, start_delete, str_field,
};
use crate::error::ApiError;
use crate::lifecycle::{ACTIVE, Timeline};
use crate::service::Ctx;
use crate::store::{self, Kind, Resource};
use crate::training::seed_from;

/// The number of event trackers a dataset group may have.
const EVENT_TRACKERS_PER_GROUP: usize = 1;
/// The number of filters a dataset group may have.
const FILTERS_PER_GROUP: usize = 10;

/// The dataset group `datasetGroupArn` names, which must be ACTIVE to take a new `kind`.
fn active_group(ctx: &Ctx<'_>, input: &Value, kind: Kind) -> Result<Resource, ApiError> {
    let group = expect(ctx, input, "datasetGroupArn", Kind::DatasetGroup)?;
    require_active(&group, ctx.now, &format!("a {} can be added", kind.label()))?;
    Ok(group)
}

/// Refuses a new `kind` in a group that already has `limit` of them (not failed or deleting).
fn check_room(ctx: &Ctx<'_>, group: &Resource, kind: Kind, limit: usize) -> Result<(), ApiError> {
    let count = store::children(ctx.tx, &group.arn)?
        .iter()
        .filter(|c| c.kind == kind && counts_toward_quota(c, ctx.now))
        .count();
    if count >= limit {
        return Err(ApiError::LimitExceeded(format!(
            "dataset group {} already has {count} {}s; the limit is {limit}",
            group.arn,
            kind.label()
        )));
    }
    Ok(())
}

/// A tracking id in UUID form, derived from the tracker's ARN and creation time.
fn tracking_id(arn: &str, now: f64) -> String {
    let high = seed_from(&format!("{arn}|{now}"));
    let low = seed_from(&format!("{now}|{arn}"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

pub(super) fn create_event_tracker(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    read_tags(input)?;
    check_name_free(ctx, Kind::EventTracker, name)?;
    let group = active_group(ctx, input, Kind::EventTracker)?;
    check_room(ctx, &group, Kind::EventTracker, EVENT_TRACKERS_PER_GROUP)?;
    let arn = arn(ctx, Kind::EventTracker, name);
    let tracking_id = tracking_id(&arn, ctx.now);
    let doc = json!({
        "name": name,
        "eventTrackerArn": arn,
        "accountId": ctx.config.account_id,
        "trackingId": tracking_id,
        "datasetGroupArn": group.arn,
    });
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.event_tracker, ACTIVE);
    let tracker = new_resource(
        ctx,
        Kind::EventTracker,
        arn.clone(),
        name,
        Some(group.arn),
        timeline,
        doc,
    );
    insert_with_tags(ctx, &tracker, input)?;
    Ok(json!({ "eventTrackerArn": arn, "trackingId": tracking_id }))
}

pub(super) fn delete_event_tracker(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let tracker = expect(ctx, input, "eventTrackerArn", Kind::EventTracker)?;
    start_delete(ctx, tracker)
}

/// Checks the outline of a filter expression: what it does, to what, and a condition.
fn check_expression(expression: &str) -> Result<(), ApiError> {
    let words: Vec<&str> = expression.split_whitespace().collect();
    let action = words.first().copied().unwrap_or_default();
    if action != "INCLUDE" && action != "EXCLUDE" {
        return Err(ApiError::InvalidInput(format!(
            "filterExpression must start with INCLUDE or EXCLUDE: {expression}"
        )));
    }
    let target = words.get(1).copied().unwrap_or_default();
    if target != "ItemID" && target != "UserID" {
        return Err(ApiError::InvalidInput(format!(
            "filterExpression must {action} ItemID or UserID: {expression}"
        )));
    }
    if words.get(2) != Some(&"WHERE") || words.len() < 6 {
        return Err(ApiError::InvalidInput(format!(
            "filterExpression needs a WHERE condition such as Items.GENRES IN (\"Comedy\"): {expression}"
        )));
    }
    let dataset = words[3].split('.').next().unwrap_or_default();
    if !matches!(
        dataset,
        "Items" | "Interactions" | "Users" | "CurrentUser" | "CurrentItem"
    ) {
        return Err(ApiError::InvalidInput(format!(
            "filterExpression refers to {dataset}, which is not Items, Interactions, Users, CurrentUser or CurrentItem: {expression}"
        )));
    }
    Ok(())
}

pub(super) fn create_filter(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = str_field(input, "name");
    read_tags(input)?;
    let expression = str_field(input, "filterExpression");
    check_expression(expression)?;
    check_name_free(ctx, Kind::Filter, name)?;
    let group = active_group(ctx, input, Kind::Filter)?;
    check_room(ctx, &group, Kind::Filter, FILTERS_PER_GROUP)?;
    let arn = arn(ctx, Kind::Filter, name);
    let doc = json!({
        "name": name,
        "filterArn": arn,
        "datasetGroupArn": group.arn,
        "filterExpression": expression,
    });
    let timeline = Timeline::creating(ctx.now, ctx.config.durations.filter, ACTIVE);
    let filter = new_resource(
        ctx,
        Kind::Filter,
        arn.clone(),
        name,
        Some(group.arn),
        timeline,
        doc,
    );
    insert_with_tags(ctx, &filter, input)?;
    Ok(json!({ "filterArn": arn }))
}

pub(super) fn delete_filter(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let filter = expect(ctx, input, "filterArn", Kind::Filter)?;
    start_delete(ctx, filter)
}

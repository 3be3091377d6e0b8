//! The recipes the endpoint trains: a fixed list, as the service's own are.

use serde_json::{Value, json};

use super::str_field;
use crate::error::ApiError;
use crate::service::Ctx;
use crate::training::Algorithm;

/// A recipe the endpoint can train.
#[derive(Debug, Clone, Copy)]
pub(super) struct Recipe {
    /// The recipe's name, the last part of its ARN.
    pub name: &'static str,
    /// The kind of recommendation it gives.
    pub recipe_type: &'static str,
    /// How the endpoint trains it.
    pub algorithm: Algorithm,
    description: &'static str,
}

/// The recipe that supports UPDATE training and item exploration.
pub(super) const USER_PERSONALIZATION: &str = "aws-user-personalization";

const RECIPES: &[Recipe] = &[
    Recipe {
        name: USER_PERSONALIZATION,
        recipe_type: "USER_PERSONALIZATION",
        algorithm: Algorithm::CoOccurrence,
        description: "Recommends items for a user from the items they interacted with, and explores new items.",
    },
    Recipe {
        name: "aws-user-personalization-v2",
        recipe_type: "USER_PERSONALIZATION",
        algorithm: Algorithm::CoOccurrence,
        description: "Recommends items for a user from the items they interacted with.",
    },
    Recipe {
        name: "aws-personalized-ranking",
        recipe_type: "PERSONALIZED_RANKING",
        algorithm: Algorithm::CoOccurrence,
        description: "Ranks a given list of items for a user.",
    },
    Recipe {
        name: "aws-personalized-ranking-v2",
        recipe_type: "PERSONALIZED_RANKING",
        algorithm: Algorithm::CoOccurrence,
        description: "Ranks a given list of items for a user.",
    },
    Recipe {
        name: "aws-similar-items",
        recipe_type: "RELATED_ITEMS",
        algorithm: Algorithm::CoOccurrence,
        description: "Recommends items that users interact with together with a given item.",
    },
    Recipe {
        name: "aws-item-affinity",
        recipe_type: "USER_SEGMENTATION",
        algorithm: Algorithm::CoOccurrence,
        description: "Finds the users most likely to interact with an item.",
    },
    Recipe {
        name: "aws-popularity-count",
        recipe_type: "USER_PERSONALIZATION",
        algorithm: Algorithm::Popularity,
        description: "Recommends the items most users interacted with.",
    },
];

/// A recipe's ARN: recipes belong to no region or account.
fn recipe_arn(name: &str) -> String {
    format!("arn:aws:personalize:::recipe/{name}")
}

/// The recipe an ARN names, if the endpoint has it.
pub(super) fn find(arn: &str) -> Option<&'static Recipe> {
    let name = arn.strip_prefix("arn:aws:personalize:::recipe/")?;
    RECIPES.iter().find(|r| r.name == name)
}

/// Recipes were published when the service launched; their dates are fixed.
const PUBLISHED: f64 = 1_543_622_400.0;

fn summary(r: &Recipe) -> Value {
    json!({
        "name": r.name,
        "recipeArn": recipe_arn(r.name),
        "status": "ACTIVE",
        "creationDateTime": PUBLISHED,
        "lastUpdatedDateTime": PUBLISHED,
    })
}

pub(super) fn list_recipes(_ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    // Domain recipes (for domain dataset groups) are not served.
    let all: &[Recipe] = if input.get("domain").is_some() {
        &[]
    } else {
        RECIPES
    };
    let start = match input.get("nextToken").and_then(Value::as_str) {
        // A token is the name of the next recipe, as handed out below.
        Some(token) => all.iter().position(|r| r.name == token).ok_or_else(|| {
            ApiError::InvalidNextToken(format!("nextToken {token} was not handed out by this list"))
        })?,
        None => 0,
    };
    let limit = input
        .get("maxResults")
        .and_then(Value::as_u64)
        .unwrap_or(100) as usize;
    let page: Vec<Value> = all.iter().skip(start).take(limit).map(summary).collect();
    let mut out = json!({ "recipes": page });
    if let Some(next) = all.get(start + limit) {
        out["nextToken"] = json!(next.name);
    }
    Ok(out)
}

pub(super) fn describe_recipe(ctx: &Ctx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = str_field(input, "recipeArn");
    let recipe = find(arn).ok_or_else(|| {
        ApiError::ResourceNotFound(format!("recipe {arn} does not exist in {}", ctx.region))
    })?;
    let mut out = summary(recipe);
    out["recipeType"] = json!(recipe.recipe_type);
    out["description"] = json!(recipe.description);
    out["algorithmArn"] = json!(format!("arn:aws:personalize:::algorithm/{}", recipe.name));
    out["featureTransformationArn"] = json!("arn:aws:personalize:::feature-transformation/sims");
    Ok(json!({ "recipe": out }))
}

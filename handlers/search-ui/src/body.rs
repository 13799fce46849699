//! The body of `POST /_miroir/ui/search/{index}/config` (plan §13.21's `search_ui:` entry, in
//! camelCase) and the checks made on it before the store is touched. The checked body is also
//! what is stored: absent fields are left out, and the SPA applies its defaults to them.

use std::collections::HashSet;

use miroir_core::{ApiError, Code, IndexUid};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use miroir_http::object::optional_objects;

/// The longest index uid, in bytes (Meilisearch's bound, checked by `miroir_core::IndexUid`).
pub const MAX_INDEX_UID_BYTES: usize = IndexUid::MAX_BYTES;

/// The longest attribute name, in bytes (Meilisearch's bound on attribute names).
pub const MAX_ATTRIBUTE_BYTES: usize = 512;

/// The longest title or label, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// The longest URL or URL template, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// The longest custom result template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 32_768;

/// The most attributes a list names.
pub const MAX_ATTRIBUTES: usize = 100;

/// The most facets.
pub const MAX_FACETS: usize = 50;

/// The most sort options.
pub const MAX_SORT_OPTIONS: usize = 20;

/// The most page sizes offered.
pub const MAX_PAGE_SIZES: usize = 10;

/// The largest page size (Meilisearch's `hitsPerPage` bound is higher; a UI page is not).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A search-UI configuration entry. Every field is optional.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = SearchUiConfigEntry)]
pub(crate) struct ConfigBody {
    /// The index (as in the plan's YAML entry); must be the index of the path. Not stored.
    #[serde(default, skip_serializing)]
    #[schema(example = "products")]
    index: Option<String>,
    /// Page title: 1 to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Product Catalog")]
    title: Option<String>,
    /// An absolute `http(s)` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://cdn.example.com/logo.svg")]
    logo_url: Option<String>,
    /// Attributes shown on each hit (distinct, at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_attributes: Option<Vec<String>>,
    /// Attributes the search box hints at (distinct, at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    searchable_attributes_hint: Option<Vec<String>>,
    /// Facets, in display order (distinct attributes, at most 50).
    #[serde(
        default,
        deserialize_with = "optional_objects",
        skip_serializing_if = "Option::is_none"
    )]
    facets: Option<Vec<Facet>>,
    /// Sort choices, in display order (at most 20).
    #[serde(
        default,
        deserialize_with = "optional_objects",
        skip_serializing_if = "Option::is_none"
    )]
    sort_options: Option<Vec<SortOption>>,
    /// How hits are laid out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result_template: Option<ResultTemplate>,
    /// The HTML template of `resultTemplate: custom` (`{{field}}`, `{{#if}}` interpolation), at
    /// most 32 KiB (so a whole configuration fits in `admin.max_body_bytes`); only with `custom`,
    /// and required by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_template: Option<String>,
    /// The attribute identifying a hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "sku")]
    primary_key_field: Option<String>,
    /// Where a hit links to: an absolute `http(s)` URL or a path starting with `/`, with
    /// `{attribute}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://shop.example.com/product/{sku}")]
    hit_url_template: Option<String>,
    /// The attribute holding each hit's image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "image_url")]
    thumbnail_field: Option<String>,
    /// Search as the user types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instant_search: Option<bool>,
    /// Highlight matched terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    highlight: Option<bool>,
    /// Show "did you mean" suggestions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typo_tolerance: Option<bool>,
    /// Hits per page: 1 to 1000, one of `perPageOptions` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 24)]
    per_page_default: Option<u32>,
    /// Page sizes offered: 1 to 10 of them, increasing, each 1 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_page_options: Option<Vec<u32>>,
    /// Suggest queries on the empty page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    empty_state_query_suggestions: Option<bool>,
    /// Send click-through and latency beacons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    analytics_enabled: Option<bool>,
}

/// A facet.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = SearchUiFacet)]
pub(crate) struct Facet {
    /// The facet attribute.
    #[schema(example = "brand")]
    attribute: String,
    /// How it is shown.
    #[serde(rename = "type")]
    kind: FacetType,
    /// Heading: 1 to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Brand")]
    title: Option<String>,
    /// Value order (`checkbox` facets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sort: Option<FacetSort>,
    /// Lower bound (`range` facets only), below `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    min: Option<serde_json::Number>,
    /// Upper bound (`range` facets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    max: Option<serde_json::Number>,
    /// Slider step (`range` facets only), more than 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    step: Option<serde_json::Number>,
}

/// How a facet is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SearchUiFacetType)]
pub(crate) enum FacetType {
    /// A list of values to tick.
    Checkbox,
    /// A numeric slider.
    Range,
    /// A star rating.
    Star,
}

/// The order of a checkbox facet's values.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SearchUiFacetSort)]
pub(crate) enum FacetSort {
    /// Most frequent first.
    CountDesc,
    /// Least frequent first.
    CountAsc,
    /// A to Z.
    AlphaAsc,
    /// Z to A.
    AlphaDesc,
}

/// A sort choice.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = SearchUiSortOption)]
pub(crate) struct SortOption {
    /// What the user sees: 1 to 200 characters.
    #[schema(example = "Price: Low to High")]
    label: String,
    /// A Meilisearch sort, `attribute:asc` or `attribute:desc`; `null` or absent: relevance.
    #[serde(default)]
    #[schema(example = "price:asc")]
    field: Option<String>,
}

/// How hits are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SearchUiResultTemplate)]
pub(crate) enum ResultTemplate {
    /// Cards.
    Card,
    /// A list.
    List,
    /// A grid.
    Grid,
    /// A table.
    Table,
    /// `customTemplate`.
    Custom,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    bad_request(format!("Invalid value in `{field}`: {reason}."))
}

/// A title or label: 1 to 200 characters, not blank, no control characters.
fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty()
        || text.chars().count() > MAX_TITLE_CHARS
        || text.chars().any(char::is_control)
    {
        return Err(invalid(
            field,
            format_args!(
                "a text of 1 to {MAX_TITLE_CHARS} characters, not blank and without control \
                 characters, is expected"
            ),
        ));
    }
    Ok(())
}

/// An attribute name: 1 to 512 bytes, not blank, no control characters, no braces.
fn check_attribute(field: &str, attribute: &str) -> Result<(), ApiError> {
    let valid = !attribute.trim().is_empty()
        && attribute.len() <= MAX_ATTRIBUTE_BYTES
        && !attribute
            .chars()
            .any(|character| character.is_control() || character == '{' || character == '}');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            field,
            format_args!(
                "`{attribute}` is not an attribute name: 1 to {MAX_ATTRIBUTE_BYTES} bytes, not \
                 blank, without control characters or braces"
            ),
        ))
    }
}

/// A list of distinct attribute names, at most [`MAX_ATTRIBUTES`].
fn check_attributes(field: &str, attributes: &[String]) -> Result<(), ApiError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(
            field,
            format_args!(
                "{} attributes, more than {MAX_ATTRIBUTES}",
                attributes.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (position, attribute) in attributes.iter().enumerate() {
        let item = format!("{field}[{position}]");
        check_attribute(&item, attribute)?;
        if !seen.insert(attribute) {
            return Err(invalid(
                &item,
                format_args!("`{attribute}` is listed twice"),
            ));
        }
    }
    Ok(())
}

/// An absolute `http` or `https` URL of at most [`MAX_URL_BYTES`].
fn is_web_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

fn check_url(field: &str, text: &str) -> Result<(), ApiError> {
    if text.len() > MAX_URL_BYTES || !is_web_url(text) {
        return Err(invalid(
            field,
            format_args!(
                "`{text}` is not an absolute `http` or `https` URL of at most {MAX_URL_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// A hit URL template: `{attribute}` placeholders in an absolute `http(s)` URL or a `/` path.
fn check_hit_url_template(field: &str, template: &str) -> Result<(), ApiError> {
    let rule = "an absolute `http` or `https` URL or a path starting with `/`, with \
                `{attribute}` placeholders";
    if template.len() > MAX_URL_BYTES {
        return Err(invalid(
            field,
            format_args!("{} bytes, more than {MAX_URL_BYTES}", template.len()),
        ));
    }
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(invalid(
                field,
                format_args!("`{template}` has a `}}` that closes nothing"),
            ));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(invalid(
                field,
                format_args!("`{template}` has a `{{` that is never closed"),
            ));
        };
        let attribute = &rest[open + 1..open + close];
        check_attribute(field, attribute)?;
        filled.push_str(&rest[..open]);
        filled.push('x');
        rest = &rest[open + close + 1..];
    }
    filled.push_str(rest);
    // Browsers read `\` as `/`, so `/\host` would leave the site like `//host`.
    let is_path = filled.starts_with('/')
        && !filled.starts_with("//")
        && !filled.chars().any(|character| {
            character == '\\' || character.is_whitespace() || character.is_control()
        });
    if is_path || is_web_url(&filled) {
        Ok(())
    } else {
        Err(invalid(field, format_args!("`{template}` is not {rule}")))
    }
}

/// A positive, finite number.
fn positive(number: &serde_json::Number) -> bool {
    number.as_f64().is_some_and(|value| value > 0.0)
}

impl Facet {
    fn check(&self, field: &str) -> Result<(), ApiError> {
        check_attribute(&format!("{field}.attribute"), &self.attribute)?;
        if let Some(title) = &self.title {
            check_text(&format!("{field}.title"), title)?;
        }
        if self.sort.is_some() && self.kind != FacetType::Checkbox {
            return Err(invalid(
                &format!("{field}.sort"),
                "only `checkbox` facets have a value order",
            ));
        }
        if self.kind != FacetType::Range {
            for (name, value) in [("min", &self.min), ("max", &self.max), ("step", &self.step)] {
                if value.is_some() {
                    return Err(invalid(
                        &format!("{field}.{name}"),
                        "only `range` facets have bounds and a step",
                    ));
                }
            }
        }
        if let (Some(min), Some(max)) = (&self.min, &self.max) {
            let (low, high) = (min.as_f64(), max.as_f64());
            if !matches!((low, high), (Some(low), Some(high)) if low < high) {
                return Err(invalid(
                    &format!("{field}.max"),
                    format_args!("{max} is not above `min` ({min})"),
                ));
            }
        }
        if let Some(step) = &self.step {
            if !positive(step) {
                return Err(invalid(
                    &format!("{field}.step"),
                    format_args!("{step}; it must be more than 0"),
                ));
            }
        }
        Ok(())
    }
}

impl SortOption {
    fn check(&self, field: &str) -> Result<(), ApiError> {
        check_text(&format!("{field}.label"), &self.label)?;
        if let Some(sort) = &self.field {
            let item = format!("{field}.field");
            let Some((attribute, direction)) = sort.rsplit_once(':') else {
                return Err(invalid(
                    &item,
                    format_args!("`{sort}` is not `attribute:asc` or `attribute:desc`"),
                ));
            };
            if direction != "asc" && direction != "desc" {
                return Err(invalid(
                    &item,
                    format_args!("`{sort}` is not `attribute:asc` or `attribute:desc`"),
                ));
            }
            check_attribute(&item, attribute)?;
        }
        Ok(())
    }
}

impl ConfigBody {
    /// The entry to store for `index`, once every field is checked: `bad_request` naming the
    /// first bad one.
    pub(crate) fn checked(self, index: &str) -> Result<serde_json::Value, ApiError> {
        if let Some(named) = &self.index {
            if named != index {
                return Err(invalid(
                    "index",
                    format_args!("`{named}` is not the index of the path, `{index}`"),
                ));
            }
        }
        if let Some(title) = &self.title {
            check_text("title", title)?;
        }
        if let Some(url) = &self.logo_url {
            check_url("logoUrl", url)?;
        }
        if let Some(attributes) = &self.display_attributes {
            check_attributes("displayAttributes", attributes)?;
        }
        if let Some(attributes) = &self.searchable_attributes_hint {
            check_attributes("searchableAttributesHint", attributes)?;
        }
        if let Some(facets) = &self.facets {
            if facets.len() > MAX_FACETS {
                return Err(invalid(
                    "facets",
                    format_args!("{} facets, more than {MAX_FACETS}", facets.len()),
                ));
            }
            let mut seen = HashSet::new();
            for (position, facet) in facets.iter().enumerate() {
                let field = format!("facets[{position}]");
                facet.check(&field)?;
                if !seen.insert(&facet.attribute) {
                    return Err(invalid(
                        &format!("{field}.attribute"),
                        format_args!("`{}` has a facet already", facet.attribute),
                    ));
                }
            }
        }
        if let Some(options) = &self.sort_options {
            if options.len() > MAX_SORT_OPTIONS {
                return Err(invalid(
                    "sortOptions",
                    format_args!("{} options, more than {MAX_SORT_OPTIONS}", options.len()),
                ));
            }
            for (position, option) in options.iter().enumerate() {
                option.check(&format!("sortOptions[{position}]"))?;
            }
        }
        match (self.result_template, &self.custom_template) {
            (Some(ResultTemplate::Custom), None) => {
                return Err(invalid(
                    "customTemplate",
                    "`resultTemplate: custom` needs the template",
                ));
            }
            (Some(ResultTemplate::Custom), Some(template)) => {
                if template.trim().is_empty() || template.len() > MAX_TEMPLATE_BYTES {
                    return Err(invalid(
                        "customTemplate",
                        format_args!(
                            "a template of 1 to {MAX_TEMPLATE_BYTES} bytes is expected, not {}",
                            template.len()
                        ),
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(invalid(
                    "customTemplate",
                    "a template is only used with `resultTemplate: custom`",
                ));
            }
            (_, None) => {}
        }
        if let Some(attribute) = &self.primary_key_field {
            check_attribute("primaryKeyField", attribute)?;
        }
        if let Some(template) = &self.hit_url_template {
            check_hit_url_template("hitUrlTemplate", template)?;
        }
        if let Some(attribute) = &self.thumbnail_field {
            check_attribute("thumbnailField", attribute)?;
        }
        if let Some(size) = self.per_page_default {
            if !(1..=MAX_PAGE_SIZE).contains(&size) {
                return Err(invalid(
                    "perPageDefault",
                    format_args!("{size}; it must be 1 to {MAX_PAGE_SIZE}"),
                ));
            }
        }
        if let Some(sizes) = &self.per_page_options {
            if sizes.is_empty() || sizes.len() > MAX_PAGE_SIZES {
                return Err(invalid(
                    "perPageOptions",
                    format_args!(
                        "1 to {MAX_PAGE_SIZES} page sizes are expected, not {}",
                        sizes.len()
                    ),
                ));
            }
            for (position, size) in sizes.iter().enumerate() {
                if !(1..=MAX_PAGE_SIZE).contains(size) {
                    return Err(invalid(
                        &format!("perPageOptions[{position}]"),
                        format_args!("{size}; it must be 1 to {MAX_PAGE_SIZE}"),
                    ));
                }
            }
            if sizes.windows(2).any(|pair| pair[0] >= pair[1]) {
                return Err(invalid("perPageOptions", "page sizes must increase"));
            }
            if let Some(size) = self.per_page_default.filter(|size| !sizes.contains(size)) {
                return Err(invalid(
                    "perPageDefault",
                    format_args!("{size} is not one of `perPageOptions`"),
                ));
            }
        }
        serde_json::to_value(&self).map_err(|_| ApiError::new(Code::Internal, "internal error"))
    }
}

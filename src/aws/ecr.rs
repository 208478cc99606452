//! ECR: resolve a tag to its digest, list recent tags for error messages.

use super::model::Image;
use super::{Clients, sdk_error, to_chrono};
use crate::error::{Error, Result};
use aws_sdk_ecr::types::ImageIdentifier;

/// The image tagged `tag`, or `None` when the tag does not exist.
pub async fn find_image(c: &Clients, repository: &str, tag: &str) -> Result<Option<Image>> {
    let res = c
        .ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await;
    match res {
        Ok(out) => Ok(out.image_details().first().map(|d| Image {
            digest: d.image_digest().unwrap_or_default().to_owned(),
            tags: d.image_tags().to_vec(),
            pushed_at: d.image_pushed_at().map(to_chrono),
        })),
        Err(e) => match super::error_code(&e) {
            Some("ImageNotFoundException") => Ok(None),
            Some("RepositoryNotFoundException") => Err(Error::Precondition(format!(
                "ECR repository `{repository}` does not exist in region {}. Check [image] repository and the region.",
                c.region
            ))),
            _ => Err(sdk_error("ecr:DescribeImages", e)),
        },
    }
}

/// Up to `n` most recently pushed tags, newest first.
pub async fn recent_tags(c: &Clients, repository: &str, n: usize) -> Result<Vec<String>> {
    let mut images = Vec::new();
    let mut pages = c
        .ecr
        .describe_images()
        .repository_name(repository)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("ecr:DescribeImages", e))?;
        for d in page.image_details() {
            images.push((d.image_pushed_at().map(to_chrono), d.image_tags().to_vec()));
        }
        if images.len() > 1000 {
            break;
        }
    }
    images.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    Ok(images.into_iter().flat_map(|(_, t)| t).take(n).collect())
}

/// The repository URI (`account.dkr.ecr.region.amazonaws.com/name`).
pub async fn repository_uri(c: &Clients, repository: &str) -> Result<String> {
    let out = c
        .ecr
        .describe_repositories()
        .repository_names(repository)
        .send()
        .await
        .map_err(|e| match super::error_code(&e) {
            Some("RepositoryNotFoundException") => Error::Precondition(format!(
                "ECR repository `{repository}` does not exist in region {}. Check [image] repository and the region.",
                c.region
            )),
            _ => sdk_error("ecr:DescribeRepositories", e),
        })?;
    out.repositories()
        .first()
        .and_then(|r| r.repository_uri())
        .map(str::to_owned)
        .ok_or_else(|| Error::Precondition(format!("ECR repository `{repository}` has no URI")))
}

//! Driver injection's side of the client API: the plan for the machine the
//! task's client reported, and the files of the planned packages.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use driver_store::{devices_from_inventory, Store, TargetOs};
use marrow_protocol::api::DriverPlan;
use marrow_protocol::MacAddr;

use super::api::{authorize, internal, ApiResult, Fail};
use super::Shared;
use crate::db::Task;
use crate::driver_plan;

fn plan_for(shared: &Shared, task: &Task) -> ApiResult<DriverPlan> {
    let os = task.inject_drivers.as_deref().ok_or_else(|| {
        Fail(
            StatusCode::NOT_FOUND,
            format!("task {} does not inject drivers", task.id),
        )
    })?;
    let target: TargetOs = os.parse().map_err(internal)?;
    let mac: MacAddr = task.host.parse().map_err(internal)?;
    let (inventory, _) = shared
        .db()
        .inventory(mac)
        .map_err(internal)?
        .ok_or_else(|| {
            Fail(
                StatusCode::CONFLICT,
                format!(
                    "host {} has reported no inventory yet; PUT it first",
                    task.host
                ),
            )
        })?;
    let devices = devices_from_inventory(&inventory).map_err(internal)?;
    let store = Store::open(&shared.config.data_dir.join("drivers")).map_err(internal)?;
    driver_plan::plan(&store, &devices, &target).map_err(internal)
}

/// The task's plan, worked out on first use and kept while the task runs
/// (a new inventory drops it).
fn cached_plan(shared: &Shared, task: &Task) -> ApiResult<Arc<DriverPlan>> {
    if let Some(plan) = shared.driver_plans.get(task) {
        return Ok(plan);
    }
    let plan = Arc::new(plan_for(shared, task)?);
    shared.driver_plans.insert(task, plan.clone());
    Ok(plan)
}

pub(super) async fn plan(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> ApiResult<Json<DriverPlan>> {
    let task = authorize(&shared, &headers)?;
    let plan = tokio::task::spawn_blocking(move || cached_plan(&shared, &task))
        .await
        .map_err(internal)??;
    Ok(Json(DriverPlan::clone(&plan)))
}

pub(super) async fn file(
    State(shared): State<Arc<Shared>>,
    Path((package, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Bytes> {
    let task = authorize(&shared, &headers)?;
    tokio::task::spawn_blocking(move || {
        // Only files the plan lists: the path is checked against the list,
        // never joined blindly.
        let plan = cached_plan(&shared, &task)?;
        let pkg = plan
            .packages
            .iter()
            .find(|p| p.id == package)
            .ok_or_else(|| {
                Fail(
                    StatusCode::FORBIDDEN,
                    format!(
                        "package {package} is not in the driver plan of task {}",
                        task.id
                    ),
                )
            })?;
        let file = pkg.files.iter().find(|f| f.path == path).ok_or_else(|| {
            Fail(
                StatusCode::NOT_FOUND,
                format!("package {package} has no file {path:?}"),
            )
        })?;
        let store = Store::open(&shared.config.data_dir.join("drivers")).map_err(internal)?;
        let id = driver_store::PackageId::from_hex(&pkg.id)
            .ok_or_else(|| internal(format!("package id {}", pkg.id)))?;
        let full = file
            .path
            .split('/')
            .fold(store.package_dir(&id), |p, part| p.join(part));
        std::fs::read(&full)
            .map(Bytes::from)
            .map_err(|e| internal(format!("{}: {e}", full.display())))
    })
    .await
    .map_err(internal)?
}

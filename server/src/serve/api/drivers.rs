//! Driver injection's side of the client API: the plan for the machine the
//! task's client reported, and the files of the planned packages.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use driver_store::{devices_from_inventory, PackageId, Store, TargetOs};
use marrow_protocol::api::DriverPlan;

use super::{blocking, ApiError, ApiResult};
use crate::db::Task;
use crate::driver_plan;
use crate::serve::auth::TaskAuth;
use crate::serve::state::Shared;

fn plan_for(shared: &Shared, task: &Task) -> ApiResult<DriverPlan> {
    let os = task
        .inject_drivers
        .as_deref()
        .ok_or_else(|| ApiError::NotFound(format!("task {} does not inject drivers", task.id)))?;
    let target: TargetOs = os.parse()?;
    let host = task.host;
    let (inventory, _) = shared
        .db
        .blocking(|db| db.hosts().inventory(host))?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "host {} has reported no inventory yet; PUT it first",
                task.host
            ))
        })?;
    let devices = devices_from_inventory(&inventory)?;
    let store = drivers_store(shared)?;
    Ok(driver_plan::plan(&store, &devices, &target)?)
}

fn drivers_store(shared: &Shared) -> ApiResult<Store> {
    Ok(Store::open(&shared.dirs.drivers())?)
}

/// The task's plan, worked out on first use and kept while the task runs
/// (a new inventory drops it).
fn cached_plan(shared: &Shared, task: &Task) -> ApiResult<Arc<DriverPlan>> {
    if let Some(plan) = shared.images.driver_plans.get(task) {
        return Ok(plan);
    }
    let plan = Arc::new(plan_for(shared, task)?);
    shared.images.driver_plans.insert(task, plan.clone());
    Ok(plan)
}

pub(super) async fn plan(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
) -> ApiResult<Json<DriverPlan>> {
    let task = auth.task;
    let plan = blocking(move || cached_plan(&shared, &task)).await?;
    Ok(Json(DriverPlan::clone(&plan)))
}

pub(super) async fn file(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Path((package, path)): Path<(String, String)>,
) -> ApiResult<Bytes> {
    let task = auth.task;
    blocking(move || {
        // Only files the plan lists: the path is checked against the list,
        // never joined blindly.
        let plan = cached_plan(&shared, &task)?;
        let pkg = plan
            .packages
            .iter()
            .find(|p| p.id.to_hex() == package)
            .ok_or_else(|| {
                ApiError::Forbidden(format!(
                    "package {package} is not in the driver plan of task {}",
                    task.id
                ))
            })?;
        let file =
            pkg.files.iter().find(|f| f.path == path).ok_or_else(|| {
                ApiError::NotFound(format!("package {package} has no file {path:?}"))
            })?;
        let store = drivers_store(&shared)?;
        let id: PackageId = pkg.id;
        let full = file
            .path
            .split('/')
            .fold(store.package_dir(&id), |p, part| p.join(part));
        std::fs::read(&full)
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", full.display())))
    })
    .await
}

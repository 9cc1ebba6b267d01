//! The shared state every handler receives.

use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use switchyard_gateway::Gateway;

#[derive(Clone, Debug)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub metrics: PrometheusHandle,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Stripe top-ups; `None` when `[stripe]` is not configured (the billing routes say so).
    pub stripe: Option<Arc<switchyard_core::stripe::Settings>>,
    /// Free credit on sign-up and for referrals.
    pub promotions: crate::accounts::Promotions,
    /// Who issues invoices and how they are numbered (`[invoices]`).
    pub invoices: Arc<crate::invoice_pdf::Settings>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on, so load balancers stop
    /// sending new requests while the server still accepts them for `shutdown_delay`.
    pub draining: Arc<AtomicBool>,
    /// Passwords, sessions, the sign-in throttle and the mailer (`[sessions]`, `[smtp]`).
    pub auth: Arc<crate::auth::Auth>,
    /// How long each class of data is kept (`[retention]`): shown to users, and the bounds
    /// of the windows they may choose for themselves.
    pub retention: switchyard_core::retention::Windows,
    /// How many days ahead of taking effect a new terms or privacy version must be published
    /// (`terms.notice_days`), so every account can be told first.
    pub terms_notice_days: i64,
    /// The users whose data export is running on this node (one at a time per user).
    pub exports: Arc<crate::export::Running>,
}

//! The one table of error codes: every failure a client can see has a row here, with its HTTP
//! status and its OpenAI `type`. Handlers never pick statuses themselves.

/// A client-visible error class. `code()` is the stable string in the error body and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No key, a malformed key, or a key we do not know.
    InvalidApiKey,
    /// A known key that was revoked.
    KeyRevoked,
    /// A known key past its expiry.
    KeyExpired,
    /// The key's account is disabled.
    AccountDisabled,
    /// The key may not use this model.
    ModelNotAllowed,
    /// The management API needs an admin.
    AdminRequired,
    /// No such model in the catalogue.
    ModelNotFound,
    /// No channel of the model satisfies the request's data policy (jurisdictions, training,
    /// retention): refused rather than sent elsewhere.
    PolicyDenied,
    /// The model exists but does not serve this endpoint (e.g. chat on an embedding model).
    WrongModelKind,
    /// No such route.
    NotFound,
    /// The body is not valid JSON.
    InvalidJson,
    /// The JSON is valid but a field is missing or has the wrong type.
    InvalidRequest,
    /// A management resource that does not exist.
    ResourceNotFound,
    /// A management resource that already exists.
    Conflict,
    /// The body is larger than the configured limit.
    BodyTooLarge,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// A signed callback (a payment processor's webhook) whose signature does not verify.
    InvalidSignature,
    /// The upstream failed: connection refused, reset, malformed answer, 5xx.
    UpstreamFailed,
    /// The upstream rate-limited us (429).
    UpstreamRateLimited,
    /// The upstream is overloaded (Anthropic's 529, a 503); retrying later may succeed.
    UpstreamOverloaded,
    /// The balance cannot cover the request's worst-case cost (402).
    InsufficientQuota,
    /// A spend limit of the key or the user would be exceeded (429).
    SpendLimitExceeded,
    /// An upstream deadline passed (connect, first byte or total).
    UpstreamTimeout,
    /// The upstream rejected the request (its own 4xx); the body carries its message.
    UpstreamRejected,
    /// A bug or an unavailable store. Never used for a client's mistake.
    Internal,
    /// The server is shutting down or the store is unreachable.
    Unavailable,
    /// Every channel of the model is cooling down after failures (or its `Retry-After`).
    NoChannelAvailable,
    /// A session cookie that names no live session (signed out, expired, or never issued).
    InvalidSession,
    /// A sign-in whose email and password do not match an account (which of the two is wrong
    /// is never said).
    InvalidCredentials,
    /// A state-changing request of a browser session without the session's CSRF token, or
    /// sent from another site (`Sec-Fetch-Site`).
    CsrfFailed,
    /// Too many failed sign-ins for this account or from this address, or a second data
    /// export of an account while one runs; `retry-after` says when to try again.
    TooManyAttempts,
    /// A grave change (deleting the account) needs proof the owner is present: the password,
    /// or a sign-in within the last minutes, from a browser session rather than an API key.
    ReauthenticationRequired,
    /// The account is scheduled for deletion; `POST /api/auth/restore` cancels it until the
    /// grace window ends.
    AccountPendingDeletion,
    /// Content logging was asked for on a deployment whose `privacy.content_logging` is
    /// `never`: no API call can turn it on there.
    ContentLoggingLocked,
}

impl ErrorCode {
    /// HTTP status for this error.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidApiKey | KeyRevoked | KeyExpired | InvalidSignature | InvalidSession
            | InvalidCredentials => 401,
            AccountDisabled
            | ModelNotAllowed
            | AdminRequired
            | PolicyDenied
            | CsrfFailed
            | ReauthenticationRequired
            | AccountPendingDeletion => 403,
            TooManyAttempts => 429,
            ModelNotFound | NotFound | ResourceNotFound => 404,
            MethodNotAllowed => 405,
            Conflict | ContentLoggingLocked => 409,
            InvalidJson | InvalidRequest | WrongModelKind => 400,
            BodyTooLarge => 413,
            UpstreamRateLimited => 429,
            InsufficientQuota => 402,
            SpendLimitExceeded => 429,
            Internal => 500,
            UpstreamFailed => 502,
            Unavailable | UpstreamOverloaded | NoChannelAvailable => 503,
            UpstreamTimeout => 504,
            // The real status is the upstream's; this is the fallback when it sent none.
            UpstreamRejected => 400,
        }
    }

    /// OpenAI's error `type`.
    pub fn kind(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidApiKey | KeyRevoked | KeyExpired | InvalidSignature | InvalidSession
            | InvalidCredentials => "authentication_error",
            AccountDisabled
            | ModelNotAllowed
            | AdminRequired
            | PolicyDenied
            | CsrfFailed
            | ReauthenticationRequired
            | AccountPendingDeletion => "permission_error",
            ModelNotFound | NotFound | ResourceNotFound | WrongModelKind | InvalidJson
            | InvalidRequest | Conflict | BodyTooLarge | MethodNotAllowed | UpstreamRejected
            | ContentLoggingLocked => "invalid_request_error",
            UpstreamRateLimited | TooManyAttempts => "rate_limit_error",
            InsufficientQuota | SpendLimitExceeded => "insufficient_quota",
            UpstreamFailed | UpstreamTimeout | Internal | Unavailable | UpstreamOverloaded
            | NoChannelAvailable => "api_error",
        }
    }

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidApiKey => "invalid_api_key",
            KeyRevoked => "key_revoked",
            KeyExpired => "key_expired",
            InvalidSignature => "invalid_signature",
            AccountDisabled => "account_disabled",
            ModelNotAllowed => "model_not_allowed",
            AdminRequired => "admin_required",
            ModelNotFound => "model_not_found",
            WrongModelKind => "wrong_model_kind",
            NotFound => "not_found",
            InvalidJson => "invalid_json",
            InvalidRequest => "invalid_request",
            ResourceNotFound => "resource_not_found",
            Conflict => "conflict",
            BodyTooLarge => "body_too_large",
            MethodNotAllowed => "method_not_allowed",
            UpstreamFailed => "upstream_error",
            UpstreamRateLimited => "upstream_rate_limited",
            UpstreamOverloaded => "upstream_overloaded",
            InsufficientQuota => "insufficient_quota",
            SpendLimitExceeded => "spend_limit_exceeded",
            UpstreamTimeout => "upstream_timeout",
            UpstreamRejected => "upstream_rejected",
            Internal => "internal_error",
            Unavailable => "unavailable",
            PolicyDenied => "data_policy_denied",
            NoChannelAvailable => "no_channel_available",
            InvalidSession => "invalid_session",
            InvalidCredentials => "invalid_credentials",
            CsrfFailed => "csrf_failed",
            TooManyAttempts => "too_many_attempts",
            ReauthenticationRequired => "reauthentication_required",
            AccountPendingDeletion => "account_pending_deletion",
            ContentLoggingLocked => "content_logging_locked",
        }
    }
}

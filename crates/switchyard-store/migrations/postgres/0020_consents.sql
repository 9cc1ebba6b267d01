-- Terms of service and privacy notice versions, and who accepted which (docs/privacy.md,
-- "Consent"). Keep this file and ../sqlite/0020_consents.sql the same schema.

CREATE TABLE terms_versions (
    kind         TEXT NOT NULL CHECK (kind IN ('terms', 'privacy')),
    version      TEXT NOT NULL,
    -- What changed, in a sentence or two: the notice mailed to users and shown to them.
    summary      TEXT NOT NULL,
    url          TEXT,
    published_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    -- Set once every account has been mailed the notice.
    notified_at  BIGINT,
    PRIMARY KEY (kind, version)
);
CREATE INDEX terms_versions_effective ON terms_versions (kind, effective_at);

-- Evidence of agreement: kept after an erasure under the pseudonymous account id, since it
-- holds nothing else about the person.
CREATE TABLE consents (
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    version     TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, version)
);

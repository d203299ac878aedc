-- Custom SQL migration file, put your code below! --
-- Single-org mode (ORG_MODE=single): the database itself refuses a second membership per user.
-- The Worker records the deployment's mode in system_settings (see src/db/system.ts); the trigger reads it.
CREATE TRIGGER memberships_single_org
BEFORE INSERT ON memberships
WHEN (SELECT value FROM system_settings WHERE key = 'org_mode') = 'single'
  AND EXISTS (SELECT 1 FROM memberships WHERE user_id = NEW.user_id AND org_id <> NEW.org_id)
BEGIN
  SELECT RAISE(ABORT, 'single_org_violation: user already belongs to an organization');
END;

-- Org settings JSON: branding.primary_color became branding.accent_color; data_policy.store_prompts and
-- data_policy.retention_days were removed (nothing stored prompts, nothing enforced retention).
UPDATE orgs SET settings = json_set(settings, '$.branding.accent_color', json_extract(settings, '$.branding.primary_color'))
WHERE json_extract(settings, '$.branding.primary_color') IS NOT NULL AND json_extract(settings, '$.branding.accent_color') IS NULL;
--> statement-breakpoint
UPDATE orgs SET settings = json_remove(settings, '$.branding.primary_color', '$.data_policy.store_prompts', '$.data_policy.retention_days')
WHERE json_type(settings, '$.branding.primary_color') IS NOT NULL
   OR json_type(settings, '$.data_policy.store_prompts') IS NOT NULL
   OR json_type(settings, '$.data_policy.retention_days') IS NOT NULL;

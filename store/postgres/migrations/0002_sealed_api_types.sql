-- 0002: add-on settings sealed. Settings carry secrets (firebase's
-- private_key, Azure's sasKey and storageAccessKey), so a row with
-- api_types_key_id keeps in api_types, for each api_type, the base64 of its
-- settings sealed under that key, the associated data naming the client
-- and the api_type. A row without it, written before this migration, keeps
-- its settings in the clear until Reseal seals them.
ALTER TABLE deputy_clients ADD COLUMN api_types_key_id text COLLATE "C";

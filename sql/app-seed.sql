-- app-seed: the people and posts of the original mock data, for a fresh
-- database. app_db_init runs this only when users is empty, in the same
-- transaction as the schema, after putting "now" (Unix microseconds) into
-- the temporary table seed_now(us); every time here is relative to it.
-- The uuids are fixed so that tests and the front end can rely on them.
-- One hour is 3600000000 us, one day 86400000000 us.

WITH v(uuid, display_name, handle, email) AS (VALUES
  ('0b7c4a4c-6c1c-4bd4-9c2e-1b4a0c9b6f01', 'Andrew Brown', 'andrewbrown', 'andrew@example.com'),
  ('2f0c1f5a-3f2e-4d8b-8f43-6a6a3b7e2a02', 'Worf',         'worf',        'worf@example.com'),
  ('5c9d2f3e-8a1b-4c6d-9e7f-0a1b2c3d4e03', 'Garek',        'garek',       'garek@example.com'),
  ('7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c04', 'Coco',         'coco',        'coco@example.com'),
  ('9e8d7c6b-5a4f-4e3d-ac1b-0f9e8d7c6b05', 'Andrew Bayko', 'bayko',       'bayko@example.com'))
INSERT INTO users (uuid, display_name, handle, email, created_at_us)
SELECT v.uuid, v.display_name, v.handle, v.email, n.us - 30 * 86400000000
FROM v, seed_now AS n;

-- Activities: (uuid, author, message, likes, replies, parent, created, expires)
-- with created and expires as offsets from now in hours.
WITH v(uuid, handle, message, likes, replies, parent, created_h, expires_h) AS (VALUES
  ('68f126b0-1ceb-4a33-88be-d90fa7109eee', 'andrewbrown', 'Cloud is fun!',
     5, 1, NULL, -48, 120),
  ('26e12864-1c26-5c3a-9658-97a10f8fea67', 'worf', 'This post has no honor!',
     0, 0, '68f126b0-1ceb-4a33-88be-d90fa7109eee', -47, 120),
  ('66e12864-8c26-4c3a-9658-95a10f8fea67', 'worf', 'I am out of prune juice',
     0, 0, NULL, -168, 216),
  ('248959df-3079-4947-b847-9e0892d1bab4', 'garek', 'My dear doctor, I am just simple tailor',
     0, 0, NULL, -1, 12),
  ('3d2b8f6e-4c1a-4f7e-9b2d-8e6f4a1c7b09', 'coco', '@andrewbrown I am a white unicorn',
     0, 0, NULL, -24, 120))
INSERT INTO activities (uuid, user_uuid, message, likes_count, replies_count, reposts_count,
                        reply_to_activity_uuid, created_at_us, expires_at_us)
SELECT v.uuid, u.uuid, v.message, v.likes, v.replies, 0, v.parent,
       n.us + v.created_h * 3600000000, n.us + v.expires_h * 3600000000
FROM v JOIN users AS u ON u.handle = v.handle, seed_now AS n;

-- Two conversations of andrewbrown: with worf and with bayko. The pair is
-- stored in uuid order (see the CHECK in app-schema.sql).
WITH v(uuid, handle_1, handle_2, updated_h) AS (VALUES
  ('24b95582-9e7b-4e0a-9ad1-639773ab7552', 'andrewbrown', 'worf', -24),
  ('417c360e-c4e6-4fce-873b-d2d71469b4ac', 'andrewbrown', 'bayko', -4))
INSERT INTO message_groups (uuid, user_a_uuid, user_b_uuid, updated_at_us)
SELECT v.uuid, min(u1.uuid, u2.uuid), max(u1.uuid, u2.uuid), n.us + v.updated_h * 3600000000
FROM v JOIN users AS u1 ON u1.handle = v.handle_1
       JOIN users AS u2 ON u2.handle = v.handle_2, seed_now AS n;

WITH v(uuid, group_uuid, handle, message, created_h) AS (VALUES
  ('4e81c06a-db0f-4281-b4cc-98208537772a', '24b95582-9e7b-4e0a-9ad1-639773ab7552',
     'andrewbrown', 'Worf, did you see my post about the cloud?', -48),
  ('8f3c2b1a-0e9d-4c8b-a7f6-e5d4c3b2a106', '24b95582-9e7b-4e0a-9ad1-639773ab7552',
     'worf', 'I did. It has no honor.', -47),
  ('b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d07', '24b95582-9e7b-4e0a-9ad1-639773ab7552',
     'andrewbrown', 'Cloud is still fun!', -24),
  ('c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e08', '417c360e-c4e6-4fce-873b-d2d71469b4ac',
     'andrewbrown', 'Are the bootcamp videos ready?', -5),
  ('d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f09', '417c360e-c4e6-4fce-873b-d2d71469b4ac',
     'bayko', 'Editing the last one now.', -4))
INSERT INTO messages (uuid, message_group_uuid, user_uuid, message, created_at_us)
SELECT v.uuid, v.group_uuid, u.uuid, v.message, n.us + v.created_h * 3600000000
FROM v JOIN users AS u ON u.handle = v.handle, seed_now AS n;

DELETE FROM posts WHERE slug = 'Hello-Migrations';
DELETE FROM users WHERE email IN ('ada@example.org', 'grace@example.org');

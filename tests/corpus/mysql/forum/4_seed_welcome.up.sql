# The first member and a welcome topic; the strings use the backslash escapes
# the mysql client and MariaDB understand.
INSERT INTO `members` (`handle`, `email`) VALUES
  ('admin', 'admin@forum.example'),
  ('o_brien', 'ob@mail.example');

INSERT INTO `topics` (`member_id`, `title`, `banner`)
SELECT `id`, 'Welcome Aboard', 'Rules: be kind; no spam\\ads' FROM `members` WHERE `handle` = 'admin';

-- The karma trigger updates `members`, so the reply cannot read it in the same statement.
SET @reply_author = (SELECT `id` FROM `members` WHERE `handle` = 'o_brien');
INSERT INTO `replies` (`topic_id`, `member_id`, `body`)
SELECT `id`, @reply_author, 'Glad to be here.\nSaid O\'Brien; with a "quote"'
FROM `topics` WHERE `slug` = 'welcome-aboard';

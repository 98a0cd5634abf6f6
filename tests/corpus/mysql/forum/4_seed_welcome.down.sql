DELETE FROM `members` WHERE `handle` IN ('admin', 'o_brien');

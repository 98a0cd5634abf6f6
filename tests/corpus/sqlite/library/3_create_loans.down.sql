DROP VIEW overdue_loans;
DROP TRIGGER loans_take_copy;
DROP TABLE "loans";

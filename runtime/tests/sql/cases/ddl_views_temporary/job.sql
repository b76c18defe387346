-- CREATE TEMPORARY TABLE (source and sink), CREATE VIEW, CREATE TEMPORARY VIEW, a view
-- defined on another view, and a table with a PRIMARY KEY ... NOT ENFORCED clause.
CREATE TEMPORARY TABLE actions (
  user_id BIGINT,
  action STRING,
  amount INT,
  PRIMARY KEY (user_id, action) NOT ENFORCED
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE VIEW purchases AS
SELECT user_id, amount FROM actions WHERE action = 'buy';

CREATE TEMPORARY VIEW big_purchases (uid, amt) AS
SELECT user_id, amount * 10 FROM purchases WHERE amount > 10;

CREATE TEMPORARY TABLE print_sink (
  uid BIGINT,
  amt INT
) WITH (
  'connector' = 'print'
);

INSERT INTO print_sink SELECT uid, amt FROM big_purchases;

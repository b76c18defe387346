-- A bare SELECT (no INSERT): expected.out holds Flink's tableau print of the result, with
-- the op column. Shows how the tableau renders NULL, timestamps, arrays and long strings.
CREATE TABLE products (
  id INT,
  name STRING,
  price DOUBLE,
  ts TIMESTAMP(3),
  tags ARRAY<STRING>
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

SELECT id, name, price, ts, tags, price > 5 AS pricey FROM products;

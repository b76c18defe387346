-- Regular INNER JOIN of two append-only inputs on an equality key. Customer 30 appears
-- twice, so order 6 joins with both rows; order 4 (customer 40) and order 5 (NULL key)
-- have no match; customer 50 has no order. The result is append-only (+I only), but the
-- order of the lines depends on how the two inputs interleave.
-- !include ../../tables/orders.sql

CREATE TABLE customers (
  customer_id BIGINT,
  name STRING,
  country STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/customers.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  order_id BIGINT,
  name STRING,
  country STRING,
  amount DOUBLE
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT o.order_id, c.name, c.country, o.amount
FROM orders AS o
JOIN customers AS c ON o.customer_id = c.customer_id;

"""The instance side of Twittnow: the update set a tenant imports into its ServiceNow
instance (business_rule.js, its condition and three system properties), and its build."""

-- Argo CD health check of the tiered.io kinds (TieredApp, ManagedDatabase,
-- CacheCluster): kstatus rules over status.observedGeneration and the Ready,
-- Reconciling and Stalled conditions the operator writes. Argo CD runs it in
-- gopher-lua (Lua 5.1) with the live object in `obj`; it returns {status, message}.
--
--   status.observedGeneration < metadata.generation   Progressing (spec not seen yet)
--   Stalled=True                                       Degraded    (needs someone to act)
--   Reconciling=True                                   Progressing (e.g. RDS creating,
--                                                                   WaitingForDatabase)
--   Ready=True                                         Healthy
--   Ready=False                                        Degraded    (not progressing)
--   no status, no Ready, Ready=Unknown                 Progressing
--
-- Order matters: a fixed spec must not stay Degraded through its old Stalled condition
-- until the operator has observed it, and a tier waiting for its database is work in
-- progress (Reconciling=True), not a failure. The message is the deciding condition's
-- message (its reason when it has none).
local hs = {}

local function find_condition(conditions, type_name)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if type(condition) == "table" and condition.type == type_name then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition ~= nil then
    if type(condition.message) == "string" and condition.message ~= "" then
      return condition.message
    end
    if type(condition.reason) == "string" and condition.reason ~= "" then
      return condition.reason
    end
  end
  return fallback
end

local function result(status, message)
  hs.status = status
  hs.message = message
  return hs
end

local function health(object)
  local status = object.status
  if type(status) ~= "table" then
    return result("Progressing", "Waiting for the tiered operator to report status")
  end
  local generation = object.metadata ~= nil and object.metadata.generation or nil
  local observed = status.observedGeneration
  if generation ~= nil and (observed == nil or observed < generation) then
    return result("Progressing", "Waiting for the tiered operator to observe generation "
      .. tostring(generation) .. " (observed: " .. tostring(observed or "none") .. ")")
  end

  local conditions = status.conditions
  local stalled = find_condition(conditions, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return result("Degraded", describe(stalled, "Stalled"))
  end
  local reconciling = find_condition(conditions, "Reconciling")
  local ready = find_condition(conditions, "Ready")
  if reconciling ~= nil and reconciling.status == "True" then
    return result("Progressing", describe(reconciling, describe(ready, "Reconciling")))
  end
  if ready == nil or ready.status == "Unknown" then
    return result("Progressing", describe(ready, "Waiting for the Ready condition"))
  end
  if ready.status == "True" then
    return result("Healthy", describe(ready, "Ready"))
  end
  return result("Degraded", describe(ready, "Not ready"))
end

return health(obj)

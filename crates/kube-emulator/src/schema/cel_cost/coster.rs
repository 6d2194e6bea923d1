//! The estimated worst-case cost of one parsed CEL expression: a walk of the `cel` crate's
//! AST after cel-go's `checker/cost.go` (`coster`), with the call costs Kubernetes adds
//! (`library.CostEstimator.EstimateCallCost`, k8s.io/apiserver/pkg/cel/library/cost.go)
//! and the sizes its `sizeEstimator` reads from the rule's schema node
//! (apiextensions-apiserver `schema/cel/compilation.go`).
//!
//! There is no type checker here: the type of a node is inferred from its schema path and
//! its literals, which is all the estimate branches on (string or list `+`, list or map
//! `in` and `[]`, whether a select reads an object or map). Sizes follow paths exactly as
//! upstream does, quirks included: an iteration variable over a computed list (no path)
//! gets the size of the rule's own node.

use cel::IdedExpr;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, LiteralValue};

mod calls;

use super::decl::{DeclKind, DeclType};
use super::size::Size;

/// `common.SelectAndIdentCost`, `ListCreateBaseCost`, `MapCreateBaseCost`,
/// `StructCreateBaseCost`; literals cost 0 (`ConstCost`) and a `has()` test adds nothing to
/// its operand (Kubernetes sets `PresenceTestHasCost(false)`).
const SELECT_AND_IDENT: u64 = 1;
const LIST_CREATE: u64 = 10;
const MAP_CREATE: u64 = 30;
const STRUCT_CREATE: u64 = 40;

/// The worst-case cost (`CostEstimate.Max`) of `expr` in a rule whose `self` is `root`.
pub(super) fn estimate(root: &DeclType, expr: &IdedExpr) -> u64 {
    Coster {
        root,
        locals: Vec::new(),
    }
    .node(expr)
    .cost
}

/// The inferred type of an expression.
#[derive(Debug, Clone)]
enum Ty<'d> {
    Decl(&'d DeclType),
    List(Box<Ty<'d>>),
    Map(Box<Ty<'d>>, Box<Ty<'d>>),
    String,
    Bytes,
    Bool,
    Int,
    Uint,
    Double,
    Null,
    Timestamp,
    Duration,
    Dyn,
}

/// What the estimate branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Struct,
    Map,
    List,
    Text,
    Bytes,
    /// Fixed-size values (`isScalar`): their size is 1.
    Scalar,
    Null,
    Dyn,
}

impl Ty<'_> {
    fn kind(&self) -> Kind {
        match self {
            Self::Decl(decl) => match decl.kind {
                DeclKind::Object => Kind::Struct,
                DeclKind::Map => Kind::Map,
                DeclKind::List => Kind::List,
                DeclKind::String => Kind::Text,
                DeclKind::Bytes => Kind::Bytes,
                DeclKind::Dyn => Kind::Dyn,
                DeclKind::Bool
                | DeclKind::Int
                | DeclKind::Double
                | DeclKind::Timestamp
                | DeclKind::Duration => Kind::Scalar,
            },
            Self::List(_) => Kind::List,
            Self::Map(..) => Kind::Map,
            Self::String => Kind::Text,
            Self::Bytes => Kind::Bytes,
            Self::Null => Kind::Null,
            Self::Dyn => Kind::Dyn,
            Self::Bool
            | Self::Int
            | Self::Uint
            | Self::Double
            | Self::Timestamp
            | Self::Duration => Kind::Scalar,
        }
    }

    /// List items or map values.
    fn elem(&self) -> Self {
        match self {
            Self::Decl(decl) => decl.elem.as_deref().map_or(Self::Dyn, Self::Decl),
            Self::List(item) | Self::Map(_, item) => (**item).clone(),
            _ => Self::Dyn,
        }
    }

    fn key(&self) -> Self {
        match self {
            Self::Decl(decl) => decl.key.as_deref().map_or(Self::Dyn, Self::Decl),
            Self::Map(key, _) => (**key).clone(),
            _ => Self::Dyn,
        }
    }

    /// An object's field or a map's value.
    fn field(&self, name: &str) -> Self {
        match self {
            Self::Decl(decl) if decl.kind == DeclKind::Object => {
                decl.fields.get(name).map_or(Self::Dyn, Self::Decl)
            }
            _ => self.elem(),
        }
    }
}

/// The sizes of a container's keys (or indices) and values, known for literals and
/// what is built from them (`entrySizeEstimate`).
#[derive(Debug, Clone, Copy)]
struct Entry {
    list: bool,
    key: Size,
    val: Size,
}

fn union_entries(a: Option<Entry>, b: Option<Entry>) -> Option<Entry> {
    let (a, b) = (a?, b?);
    Some(Entry {
        list: a.list,
        key: a.key.union(b.key),
        val: a.val.union(b.val),
    })
}

/// An estimated expression.
#[derive(Debug)]
struct Node<'d> {
    cost: u64,
    ty: Ty<'d>,
    /// The field path from a variable (`self`, `@items`, `@keys`, field names), if any.
    path: Option<Vec<String>>,
    size: Option<Size>,
    entry: Option<Entry>,
}

impl Node<'_> {
    fn size_or_unknown(&self) -> Size {
        self.size.unwrap_or(Size::UNKNOWN)
    }
}

/// A variable bound by a comprehension.
struct Local<'d> {
    name: String,
    path: Option<Vec<String>>,
    size: Option<Size>,
    entry: Option<Entry>,
    ty: Ty<'d>,
}

struct Coster<'d> {
    root: &'d DeclType,
    locals: Vec<Local<'d>>,
}

impl<'d> Coster<'d> {
    /// `sizeEstimator.EstimateSize`: the `MaxElements` of the schema node a path leads to
    /// (its first element, the variable, stands for the rule's node).
    fn estimate_size(&self, path: Option<&[String]>) -> Option<Size> {
        let (_, steps) = path?.split_first()?;
        let mut node = self.root;
        for step in steps {
            node = match step.as_str() {
                "@items" | "@values" => node.elem.as_deref()?,
                "@keys" => node.key.as_deref()?,
                name => node.fields.get(name)?,
            };
        }
        Some(Size::up_to(node.max_elements))
    }

    /// `computeSize`: a size computed by the call, else the path's, else 1 for a scalar,
    /// else the variable's.
    fn size_of(
        &self,
        computed: Option<Size>,
        path: Option<&[String]>,
        ty: &Ty,
        local: Option<Size>,
    ) -> Option<Size> {
        computed
            .or_else(|| self.estimate_size(path))
            .or_else(|| (ty.kind() == Kind::Scalar).then(|| Size::fixed(1)))
            .or(local)
    }

    fn node(&mut self, expr: &IdedExpr) -> Node<'d> {
        match &expr.expr {
            Expr::Literal(literal) => literal_node(literal),
            Expr::Ident(name) => self.ident(name),
            Expr::Select(select) => {
                let operand = self.node(&select.operand);
                if select.test {
                    return plain(operand.cost, Ty::Bool);
                }
                let mut cost = operand.cost;
                if matches!(operand.ty.kind(), Kind::Struct | Kind::Map) {
                    cost = cost.saturating_add(SELECT_AND_IDENT);
                }
                let mut path = operand.path.unwrap_or_default();
                path.push(select.field.clone());
                let ty = operand.ty.field(&select.field);
                let size = self.size_of(None, Some(&path), &ty, None);
                Node {
                    cost,
                    ty,
                    path: Some(path),
                    size,
                    entry: None,
                }
            }
            Expr::Call(call) => self.call(call),
            Expr::Comprehension(comprehension) => self.comprehension(comprehension),
            Expr::List(list) => {
                let elements: Vec<Node> = list.elements.iter().map(|e| self.node(e)).collect();
                let val = elements
                    .iter()
                    .map(Node::size_or_unknown)
                    .reduce(Size::union)
                    .unwrap_or(Size::fixed(0));
                let ty = elements.first().map_or(Ty::Dyn, |e| e.ty.clone());
                Node {
                    cost: sum(elements.iter().map(|e| e.cost)).saturating_add(LIST_CREATE),
                    ty: Ty::List(Box::new(ty)),
                    path: None,
                    size: Some(Size::fixed(elements.len() as u64)),
                    entry: Some(Entry {
                        list: true,
                        key: Size::fixed(1),
                        val,
                    }),
                }
            }
            Expr::Map(map) => {
                let mut cost = MAP_CREATE;
                let (mut key, mut val) = (None::<Size>, None::<Size>);
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        let (k, v) = (self.node(&entry.key), self.node(&entry.value));
                        cost = cost.saturating_add(k.cost).saturating_add(v.cost);
                        key =
                            Some(key.map_or(k.size_or_unknown(), |s| s.union(k.size_or_unknown())));
                        val =
                            Some(val.map_or(v.size_or_unknown(), |s| s.union(v.size_or_unknown())));
                    }
                }
                Node {
                    cost,
                    ty: Ty::Map(Box::new(Ty::Dyn), Box::new(Ty::Dyn)),
                    path: None,
                    size: Some(Size::fixed(map.entries.len() as u64)),
                    entry: Some(Entry {
                        list: false,
                        key: key.unwrap_or(Size::fixed(0)),
                        val: val.unwrap_or(Size::fixed(0)),
                    }),
                }
            }
            Expr::Struct(structure) => {
                let mut cost = STRUCT_CREATE;
                for entry in &structure.entries {
                    if let EntryExpr::StructField(field) = &entry.expr {
                        cost = cost.saturating_add(self.node(&field.value).cost);
                    }
                }
                plain(cost, Ty::Dyn)
            }
            Expr::Unspecified => plain(0, Ty::Dyn),
        }
    }

    fn ident(&self, name: &str) -> Node<'d> {
        if let Some(local) = self.locals.iter().rev().find(|l| l.name == name) {
            let size = self.size_of(None, local.path.as_deref(), &local.ty, local.size);
            return Node {
                cost: SELECT_AND_IDENT,
                ty: local.ty.clone(),
                path: local.path.clone(),
                size,
                entry: local.entry,
            };
        }
        let ty = if name == "self" || name == "oldSelf" {
            Ty::Decl(self.root)
        } else {
            Ty::Dyn
        };
        let path = vec![name.to_owned()];
        let size = self.size_of(None, Some(&path), &ty, None);
        Node {
            cost: SELECT_AND_IDENT,
            ty,
            path: Some(path),
            size,
            entry: None,
        }
    }

    fn call(&mut self, call: &CallExpr) -> Node<'d> {
        let args: Vec<Node<'d>> = call.args.iter().map(|a| self.node(a)).collect();
        let target = call.target.as_deref().map(|t| self.node(t));
        if call.func_name == "dyn" && target.is_none() && args.len() == 1 {
            let arg = &args[0];
            return Node {
                cost: arg.cost.saturating_add(1),
                ty: Ty::Dyn,
                path: None,
                size: arg.size,
                entry: arg.entry,
            };
        }
        let mut node = self.function(&call.func_name, target.as_ref(), &args, &call.args);
        node.cost = node
            .cost
            .saturating_add(target.as_ref().map_or(0, |t| t.cost));
        node
    }

    /// `costComprehension`: range + init + result + range size × (step + condition).
    fn comprehension(&mut self, comprehension: &ComprehensionExpr) -> Node<'d> {
        let range = self.node(&comprehension.iter_range);
        let init = self.node(&comprehension.accu_init);
        self.locals.push(Local {
            name: comprehension.accu_var.clone(),
            path: init.path.clone(),
            size: init.size,
            entry: init.entry,
            ty: init.ty.clone(),
        });
        let list = range
            .entry
            .map_or(range.ty.kind() == Kind::List, |e| e.list);
        let under = |step: &str| {
            let mut path = range.path.clone().unwrap_or_default();
            path.push(step.to_owned());
            Some(path)
        };
        let (key_step, key_ty) = if list {
            ("@indices", Ty::Int)
        } else {
            ("@keys", range.ty.key())
        };
        let (val_step, val_ty) = if list {
            ("@items", range.ty.elem())
        } else {
            ("@values", range.ty.elem())
        };
        let bound = match &comprehension.iter_var2 {
            None if list => vec![(
                &comprehension.iter_var,
                val_step,
                range.entry.map(|e| e.val),
                val_ty,
            )],
            None => vec![(
                &comprehension.iter_var,
                key_step,
                range.entry.map(|e| e.key),
                key_ty,
            )],
            Some(value_var) => vec![
                (
                    &comprehension.iter_var,
                    key_step,
                    range.entry.map(|e| e.key),
                    key_ty,
                ),
                (value_var, val_step, range.entry.map(|e| e.val), val_ty),
            ],
        };
        let bound_count = bound.len();
        for (name, step, size, ty) in bound {
            self.locals.push(Local {
                name: name.clone(),
                path: under(step),
                size,
                entry: None,
                ty,
            });
        }
        let condition = self.node(&comprehension.loop_cond);
        let step = self.node(&comprehension.loop_step);
        self.locals.truncate(self.locals.len() - bound_count);
        let result = self.node(&comprehension.result);
        self.locals.pop();

        let count = range.size_or_unknown();
        let per_iteration = step.cost.saturating_add(condition.cost);
        let cost = sum([
            range.cost,
            init.cost,
            result.cost,
            count.max.saturating_mul(per_iteration),
        ]);
        let (computed, entry) = match &comprehension.accu_init.expr {
            Expr::Literal(_) => (init.size, None),
            Expr::List(_) | Expr::Map(_) => (Some(count), step.entry),
            _ => (None, None),
        };
        let size = self.size_of(computed, None, &result.ty, None);
        Node {
            cost,
            ty: result.ty,
            path: None,
            size,
            entry,
        }
    }
}

fn literal_node<'d>(literal: &LiteralValue) -> Node<'d> {
    let (ty, size) = match literal {
        LiteralValue::String(s) => (Ty::String, s.chars().count() as u64),
        LiteralValue::Bytes(b) => (Ty::Bytes, b.len() as u64),
        LiteralValue::Boolean(_) => (Ty::Bool, 1),
        LiteralValue::Int(_) => (Ty::Int, 1),
        LiteralValue::UInt(_) => (Ty::Uint, 1),
        LiteralValue::Double(_) => (Ty::Double, 1),
        LiteralValue::Null => (Ty::Null, 1),
    };
    sized(0, ty, Size::fixed(size), None)
}

fn plain(cost: u64, ty: Ty) -> Node {
    let size = (ty.kind() == Kind::Scalar).then(|| Size::fixed(1));
    Node {
        cost,
        ty,
        path: None,
        size,
        entry: None,
    }
}

fn sized(cost: u64, ty: Ty, size: Size, entry: Option<Entry>) -> Node {
    Node {
        cost,
        ty,
        path: None,
        size: Some(size),
        entry,
    }
}

fn sum(costs: impl IntoIterator<Item = u64>) -> u64 {
    costs.into_iter().fold(0, u64::saturating_add)
}

//! The cost of a call: cel-go's `functionCost` after Kubernetes' `EstimateCallCost`
//! (k8s.io/apiserver/pkg/cel/library/cost.go) and the `sets` extension's estimate, each
//! with its result's type and size; any other call costs 1 plus its arguments.

use cel::IdedExpr;
use cel::common::ast::{Expr, LiteralValue};

use super::super::size::{REGEX_LENGTH, STRING_TRAVERSAL, Size, by_factor};
use super::{Coster, Kind, Node, Ty, plain, sized, sum, union_entries};

fn textual(kind: Kind) -> bool {
    matches!(kind, Kind::Text | Kind::Bytes)
}

/// Whether a binary operator may take its string overload: an operand is a string or
/// bytes, or both are `dyn` (then the checker keeps every overload and the estimate takes
/// the costliest).
fn string_overload(lhs: &Node, rhs: &Node) -> bool {
    let (l, r) = (lhs.ty.kind(), rhs.ty.kind());
    textual(l) || textual(r) || (l == Kind::Dyn && r == Kind::Dyn)
}

impl<'d> Coster<'d> {
    /// The cost of a call including its arguments (not its target), its result's type
    /// and size (`functionCost`, Kubernetes' `EstimateCallCost` first).
    pub(super) fn function(
        &self,
        name: &str,
        target: Option<&Node<'d>>,
        args: &[Node<'d>],
        exprs: &[IdedExpr],
    ) -> Node<'d> {
        if let Some(node) = logical(name, args) {
            return node;
        }
        let mut node = self
            .operator(name, args)
            .or_else(|| string_call(name, target, args, exprs))
            .or_else(|| self.library_call(name, target, args))
            .unwrap_or_else(|| plain(1, result_type(name, args)));
        node.cost = node.cost.saturating_add(sum(args.iter().map(|a| a.cost)));
        node
    }

    /// Operators other than the logical ones, without their operands' cost.
    fn operator(&self, name: &str, args: &[Node<'d>]) -> Option<Node<'d>> {
        Some(match (name, args) {
            ("_==_" | "_!=_", [lhs, rhs]) => plain(equality(lhs, rhs), Ty::Bool),
            ("_<_" | "_<=_" | "_>_" | "_>=_", [lhs, rhs]) if string_overload(lhs, rhs) => {
                plain(equality(lhs, rhs), Ty::Bool)
            }
            ("_+_", [lhs, rhs]) => {
                let joined = lhs.size_or_unknown().add(rhs.size_or_unknown());
                let entry = union_entries(lhs.entry, rhs.entry);
                if string_overload(lhs, rhs) {
                    let bytes = [&lhs.ty, &rhs.ty].iter().any(|t| t.kind() == Kind::Bytes);
                    let ty = if bytes { Ty::Bytes } else { Ty::String };
                    sized(joined.cost(STRING_TRAVERSAL), ty, joined, entry)
                } else if lhs.ty.kind() == Kind::List || rhs.ty.kind() == Kind::List {
                    sized(1, lhs.ty.clone(), joined, entry)
                } else {
                    plain(1, lhs.ty.clone())
                }
            }
            ("@in", [_, list]) if matches!(list.ty.kind(), Kind::List | Kind::Dyn) => {
                plain(list.size_or_unknown().max, Ty::Bool)
            }
            ("_[_]", [container, _]) => {
                let step = if container.ty.kind() == Kind::List {
                    "@items"
                } else {
                    "@values"
                };
                let mut path = container.path.clone().unwrap_or_default();
                path.push(step.to_owned());
                let ty = container.ty.elem();
                let size = self.size_of(container.entry.map(|e| e.val), Some(&path), &ty, None);
                Node {
                    cost: 1,
                    ty,
                    path: Some(path),
                    size,
                    entry: None,
                }
            }
            _ => return None,
        })
    }

    /// Kubernetes' list functions and the `sets` extension, without their arguments' cost.
    fn library_call(
        &self,
        name: &str,
        target: Option<&Node<'d>>,
        args: &[Node<'d>],
    ) -> Option<Node<'d>> {
        let target_size = target.map_or(Size::UNKNOWN, Node::size_or_unknown);
        Some(match (name, target, args) {
            ("isSorted" | "sum" | "max" | "min" | "indexOf" | "lastIndexOf", Some(t), _) => {
                let ty = match name {
                    "isSorted" => Ty::Bool,
                    "indexOf" | "lastIndexOf" => Ty::Int,
                    _ => t.ty.elem(),
                };
                let cost = if t.ty.kind() == Kind::List {
                    let mut per_item = 1u64;
                    if textual(t.ty.elem().kind()) {
                        let item = self.item_size(t).cost(STRING_TRAVERSAL);
                        per_item = per_item.saturating_add(item);
                    }
                    target_size.max.saturating_mul(per_item)
                } else {
                    target_size.cost(STRING_TRAVERSAL)
                };
                plain(cost, ty)
            }
            ("join", Some(t), _) => {
                let mut size = Size::fixed(0);
                if t.ty.kind() == Kind::List {
                    size = target_size.multiply(self.item_size(t));
                }
                if let Some(separator) = args.first() {
                    let separators = Size {
                        min: target_size.min.saturating_sub(1),
                        max: target_size.max.saturating_sub(1),
                    };
                    size = size.add(separator.size_or_unknown().multiply(separators));
                }
                sized(size.cost(STRING_TRAVERSAL), Ty::String, size, None)
            }
            ("sets.contains" | "sets.intersects" | "sets.equivalent", None, [a, b]) => {
                let product = a.size_or_unknown().multiply(b.size_or_unknown()).cost(1.0);
                plain(product.saturating_add(1), Ty::Bool)
            }
            _ => return None,
        })
    }

    /// The size of a list's items by the list's path (`listElementNode`): unknown when the
    /// list has no path.
    fn item_size(&self, list: &Node) -> Size {
        let path = list.path.as_ref().map(|p| {
            let mut p = p.clone();
            p.push("@items".to_owned());
            p
        });
        self.estimate_size(path.as_deref()).unwrap_or(Size::UNKNOWN)
    }
}

/// `&&` and `||` cost their operands (the estimate assumes no short cut); `?:` its
/// condition and the costlier branch.
fn logical<'d>(name: &str, args: &[Node<'d>]) -> Option<Node<'d>> {
    match (name, args) {
        ("_&&_" | "_||_", [lhs, rhs]) => Some(plain(lhs.cost.saturating_add(rhs.cost), Ty::Bool)),
        ("_?_:_", [condition, then, otherwise]) => Some(Node {
            cost: condition.cost.saturating_add(then.cost.max(otherwise.cost)),
            ty: if then.ty.kind() == Kind::Dyn {
                otherwise.ty.clone()
            } else {
                then.ty.clone()
            },
            path: None,
            size: Some(then.size_or_unknown().union(otherwise.size_or_unknown())),
            entry: union_entries(then.entry, otherwise.entry),
        }),
        _ => None,
    }
}

/// String functions (cel-go's and Kubernetes'), without their arguments' cost.
fn string_call<'d>(
    name: &str,
    target: Option<&Node<'d>>,
    args: &[Node<'d>],
    exprs: &[IdedExpr],
) -> Option<Node<'d>> {
    let target_size = target.map_or(Size::UNKNOWN, Node::size_or_unknown);
    let traversal = |size: Size| size.cost(STRING_TRAVERSAL);
    Some(match (name, target, args) {
        ("matches", Some(_), [regex]) | ("find" | "findAll", Some(_), [regex, ..]) => {
            let text = traversal(target_size.add(Size::fixed(1)));
            let cost = text.saturating_mul(regex.size_or_unknown().cost(REGEX_LENGTH));
            match name {
                "matches" => plain(cost, Ty::Bool),
                "find" => sized(cost, Ty::String, Size::up_to(target_size.max), None),
                _ => {
                    let ty = Ty::List(Box::new(Ty::String));
                    sized(cost, ty, Size::up_to(target_size.max), None)
                }
            }
        }
        ("contains", Some(t), [sub]) if matches!(t.ty.kind(), Kind::Text | Kind::Dyn) => {
            let cost = traversal(target_size).saturating_mul(traversal(sub.size_or_unknown()));
            plain(cost, Ty::Bool)
        }
        ("startsWith" | "endsWith", Some(_), [prefix]) => {
            plain(traversal(prefix.size_or_unknown()), Ty::Bool)
        }
        ("string", None, [arg]) if arg.ty.kind() == Kind::Bytes => {
            let size = arg.size_or_unknown();
            let result = Size {
                min: size.min / 4,
                max: size.max,
            };
            sized(traversal(size), Ty::String, result, None)
        }
        ("bytes", None, [arg]) if arg.ty.kind() == Kind::Text => {
            let size = arg.size_or_unknown();
            let result = Size {
                min: size.min,
                max: size.max.saturating_mul(4),
            };
            sized(traversal(size), Ty::Bytes, result, None)
        }
        ("strings.quote", None, [arg]) => {
            let size = arg.size_or_unknown();
            let result = Size {
                min: size.min.saturating_add(2),
                max: size.max.saturating_mul(2).saturating_add(2),
            };
            sized(traversal(size), Ty::String, result, None)
        }
        ("format", Some(_), _) => plain(traversal(target_size), Ty::String),
        ("url" | "jsonpatch.escapeKey", _, [arg]) => {
            let size = arg.size_or_unknown();
            sized(traversal(size), Ty::Dyn, size, None)
        }
        ("lowerAscii" | "upperAscii" | "substring" | "trim", Some(_), _) => {
            sized(traversal(target_size), Ty::String, target_size, None)
        }
        ("replace", Some(_), [from, to, ..]) => {
            let result = replaced_size(target_size, from.size_or_unknown(), to.size_or_unknown());
            sized(
                target_size.cost(2.0 * STRING_TRAVERSAL),
                Ty::String,
                result,
                None,
            )
        }
        ("split", Some(_), _) => {
            let limit = split_limit(exprs).unwrap_or(target_size.max);
            let ty = Ty::List(Box::new(Ty::String));
            sized(
                target_size.cost(2.0 * STRING_TRAVERSAL),
                ty,
                Size::up_to(limit),
                None,
            )
        }
        _ => return None,
    })
}

/// `==`, `!=` and string ordering: a traversal of the shorter operand.
fn equality(lhs: &Node, rhs: &Node) -> u64 {
    let shorter = lhs.size_or_unknown().max.min(rhs.size_or_unknown().max);
    by_factor(shorter, STRING_TRAVERSAL)
}

/// `split`'s literal limit, which bounds its result's items (as Go's `uint64(i)`: a
/// negative limit wraps to a huge bound).
#[allow(clippy::cast_sign_loss)]
fn split_limit(exprs: &[IdedExpr]) -> Option<u64> {
    match exprs.get(1).map(|e| &e.expr) {
        Some(Expr::Literal(LiteralValue::Int(limit))) => Some(*limit.inner() as u64),
        _ => None,
    }
}

/// The size of `replace`'s result (Kubernetes' `replace` estimate): the most
/// replacements times the replacement's size, plus the text kept; each end of the range
/// from its own end of the sizes.
fn replaced_size(text: Size, from: Size, to: Size) -> Size {
    let (count_max, kept_max) = replace_bound(text.max, from.min, to.max <= from.min);
    let (count_min, kept_min) = replace_bound(text.min, from.max, from.max <= to.min);
    let count = Size {
        min: count_min,
        max: count_max,
    };
    let kept = Size {
        min: kept_min,
        max: kept_max,
    };
    count.multiply(to).add(kept)
}

/// `(replacements, text kept)` for one end of `replace`'s estimate: an empty `from`
/// matches between every character (and keeps the text); one whose replacement is no
/// longer (`shrinks`) counts as the text kept; else the text holds `text / from` of them.
fn replace_bound(text: u64, from: u64, shrinks: bool) -> (u64, u64) {
    if from == 0 {
        (text.saturating_add(1), text)
    } else if shrinks {
        (0, text)
    } else {
        (text.div_ceil(from), 0)
    }
}

/// The result type of a call with the default cost.
fn result_type<'d>(name: &str, args: &[Node<'d>]) -> Ty<'d> {
    match name {
        "size" | "int" | "indexOf" | "lastIndexOf" => Ty::Int,
        "uint" => Ty::Uint,
        "double" => Ty::Double,
        "timestamp" => Ty::Timestamp,
        "duration" => Ty::Duration,
        "string" | "charAt" | "reverse" | "strings.quote" => Ty::String,
        "!_"
        | "@not_strictly_false"
        | "@in"
        | "_==_"
        | "_!=_"
        | "_<_"
        | "_<=_"
        | "_>_"
        | "_>=_"
        | "matches"
        | "contains"
        | "startsWith"
        | "endsWith" => Ty::Bool,
        "-_" | "_-_" | "_*_" | "_/_" | "_%_" | "_+_" => {
            args.first().map_or(Ty::Dyn, |a| a.ty.clone())
        }
        _ => Ty::Dyn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figures worked by hand from Kubernetes' `replace` estimate, for a text of up to
    /// 40 characters (`maxLength: 10`).
    #[test]
    fn replace_sizes_follow_the_upstream_estimate() {
        let text = Size::up_to(40);
        // 'a' → 'bb': up to 40 replacements of 2, nothing kept at most; at least nothing.
        assert_eq!(
            replaced_size(text, Size::fixed(1), Size::fixed(2)),
            Size { min: 0, max: 80 }
        );
        // 'a' → '': the result is never longer than the text.
        assert_eq!(
            replaced_size(text, Size::fixed(1), Size::fixed(0)),
            Size { min: 0, max: 40 }
        );
        // '' → 'x': a replacement between every character and at both ends.
        assert_eq!(
            replaced_size(text, Size::fixed(0), Size::fixed(1)),
            Size { min: 1, max: 81 }
        );
    }
}
